import { useCallback, useMemo, useReducer, useState } from "react";
import { useQuery } from "urql";
import type { ScreenProps } from "../../App";
import { graphql } from "../../gql";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading, Page } from "../../components/Page";
import { may } from "../../permissions";
import { useSession } from "../../session";
import { ListFilters } from "./ListFilters";
import { ListNewSecretDialog } from "./ListNewSecretDialog";
import { ListTable } from "./ListTable";
import type { ListFilter } from "./listFilter";
import { NO_FILTER, currentCursor, isFiltered, moveInList, toSecretFilter } from "./listFilter";
import "./list.css";

const PAGE_SIZE = 50;

// Metadata only: no value, no version history (reading versions is recorded
// as VIEWED). One page at a time, keyset by name, without a total.
const SecretsPage = graphql(`
  query ConsoleSecretsPage($workspaceId: ID!, $first: Int!, $after: String, $filter: SecretFilter) {
    secrets(workspaceId: $workspaceId, first: $first, after: $after, filter: $filter) {
      edges {
        node {
          id
          name
          secretType
          usage
          tags
          metadata
          rotationPolicy
          rotationDueAt
          encryptionBackend
          lastAccessedAt
          isActive
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

// The total is counted on the server only when asked for, so it is asked
// once per filter, never with each page.
const SecretsCount = graphql(`
  query ConsoleSecretsCount($workspaceId: ID!, $filter: SecretFilter) {
    secrets(workspaceId: $workspaceId, first: 1, filter: $filter) {
      totalCount
    }
  }
`);

/**
 * The workspace's secrets, one page of PAGE_SIZE in the DOM at a time, with
 * search, filters and "Previous page" / "Next page" over a stack of keyset
 * cursors, and "New secret" for those who may write.
 */
export function SecretsScreen(props: ScreenProps) {
  const { workspaceId } = props;
  const { viewer } = useSession();
  const [position, move] = useReducer(moveInList, { filter: NO_FILTER, cursors: [null] });
  const [creating, setCreating] = useState(false);
  const filter = useMemo(() => toSecretFilter(position.filter), [position.filter]);
  const after = currentCursor(position);
  // Paused while "New secret" is open: urql refetches every query holding a
  // Secret when a mutation answers with one, and a created secret opens its
  // own page, which would cut that refetch off. Cancelling resumes (and so
  // reloads) the list.
  const [page] = useQuery({
    query: SecretsPage,
    variables: { workspaceId, first: PAGE_SIZE, after, filter },
    pause: creating,
  });
  const [count] = useQuery({ query: SecretsCount, variables: { workspaceId, filter }, pause: creating });
  const changeFilter = useCallback((change: Partial<ListFilter>) => move({ type: "filter", change }), []);

  const secrets = page.data?.secrets.edges.map((edge) => edge.node) ?? [];
  const pageNumber = position.cursors.length;
  const firstShown = (pageNumber - 1) * PAGE_SIZE + 1;
  const endCursor = page.data?.secrets.pageInfo.endCursor;
  const hasNextPage = page.data?.secrets.pageInfo.hasNextPage ?? false;
  const total = count.data?.secrets.totalCount;

  return (
    <Page
      title="Secrets"
      actions={
        may(viewer, workspaceId, "write") && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New secret
          </button>
        )
      }
    >
      <ListFilters filter={position.filter} onChange={changeFilter} />
      {page.error && <ErrorNotice error={page.error} what="list the secrets" />}
      {!page.data && page.fetching && <Loading what="secrets" />}
      {page.data && (
        <>
          <p className="list-summary" role="status">
            {page.fetching
              ? "Loading secrets…"
              : secrets.length === 0
              ? isFiltered(position.filter)
                ? "No secret matches these filters."
                : "No secrets here yet."
              : `Secrets ${firstShown}–${firstShown + secrets.length - 1}` +
                (total === undefined ? "" : ` of ${total}`) +
                (isFiltered(position.filter) ? " matching" : "")}
          </p>
          {secrets.length > 0 && (
            <ListTable
              workspaceId={workspaceId}
              secrets={secrets}
              busy={page.fetching}
              caption={`Secrets of ${workspaceId} by name, page ${pageNumber}`}
            />
          )}
          <nav className="list-pager" aria-label="Pages of secrets">
            <PagerButton
              label="Previous page"
              usable={pageNumber > 1 && !page.fetching}
              onPress={() => move({ type: "previous" })}
            />
            <span aria-live="polite">Page {pageNumber}</span>
            <PagerButton
              label="Next page"
              usable={hasNextPage && !!endCursor && !page.fetching}
              onPress={() => endCursor && move({ type: "next", after: endCursor })}
            />
          </nav>
        </>
      )}
      {count.error && !page.error && <ErrorNotice error={count.error} what="count the secrets" />}
      <ListNewSecretDialog workspaceId={workspaceId} open={creating} onClose={() => setCreating(false)} />
    </Page>
  );
}

/**
 * aria-disabled rather than disabled: a button that becomes unusable under
 * the keyboard (the last page reached) keeps its focus instead of dropping
 * it to the document.
 */
function PagerButton(props: { label: string; usable: boolean; onPress: () => void }) {
  return (
    <button type="button" aria-disabled={!props.usable} onClick={() => props.usable && props.onPress()}>
      {props.label}
    </button>
  );
}
