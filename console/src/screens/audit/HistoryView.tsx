// The stored trail, newest first, one keyset page at a time. The server
// filters a workspace listing by action and success, a secret's listing
// (secretAudit) by nothing more: the other filters then narrow the page shown.
import { useState } from "react";
import { useQuery } from "urql";
import { graphql } from "../../gql";
import { ErrorNotice } from "../../components/ErrorNotice";
import { Loading } from "../../components/Page";
import { AuditTable, matches } from "./events";
import type { AuditFilters } from "./events";

export const PAGE_SIZE = 50;

const WorkspaceAuditQuery = graphql(`
  query WorkspaceAuditPage($workspaceId: ID!, $first: Int!, $after: String, $action: AuditAction, $success: Boolean) {
    workspaceAudit(workspaceId: $workspaceId, first: $first, after: $after, action: $action, success: $success) {
      edges {
        node {
          ...AuditRowFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

const SecretAuditQuery = graphql(`
  query SecretAuditPage($workspaceId: ID!, $secretId: ID!, $first: Int!, $after: String) {
    secretAudit(workspaceId: $workspaceId, secretId: $secretId, first: $first, after: $after) {
      edges {
        node {
          ...AuditRowFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

export function HistoryView(props: { workspaceId: string; filters: AuditFilters }) {
  // The cursors of the pages before this one: Previous pops one.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const secretId = props.filters.secretId;
  const [workspacePage, refreshWorkspace] = useQuery({
    query: WorkspaceAuditQuery,
    variables: {
      workspaceId: props.workspaceId,
      first: PAGE_SIZE,
      after,
      action: props.filters.action,
      success: props.filters.success,
    },
    pause: secretId !== null,
  });
  const [secretPage, refreshSecret] = useQuery({
    query: SecretAuditQuery,
    variables: { workspaceId: props.workspaceId, secretId: secretId ?? "", first: PAGE_SIZE, after },
    pause: secretId === null,
  });
  const current = secretId === null ? workspacePage : secretPage;
  const connection =
    secretId === null ? workspacePage.data?.workspaceAudit : secretPage.data?.secretAudit;
  const events = connection?.edges.map((edge) => edge.node) ?? [];
  const shown = events.filter((row) => matches(row, props.filters));
  const narrowedHere =
    secretId !== null
      ? props.filters.action !== null || props.filters.success !== null || props.filters.userId !== null
      : props.filters.userId !== null;
  return (
    <section className="audit-section" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <p className="audit-status" role="status">
        Page {cursors.length}
        {connection ? `: ${events.length} event${events.length === 1 ? "" : "s"}` : ""}
        {narrowedHere && connection ? `, ${shown.length} matching the filters the server does not apply` : ""}
      </p>
      <div className="actions">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button
          type="button"
          disabled={!connection?.pageInfo.hasNextPage}
          onClick={() => setCursors([...cursors, connection?.pageInfo.endCursor ?? null])}
        >
          Next page
        </button>
        <button
          type="button"
          onClick={() => (secretId === null ? refreshWorkspace() : refreshSecret())}
        >
          Refresh
        </button>
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors([null])}>
          Newest
        </button>
      </div>
      {current.error && <ErrorNotice error={current.error} what="read the audit trail" />}
      {current.fetching && !connection && <Loading what="audit events" />}
      {connection && (
        <AuditTable rows={shown} caption="Stored audit events, newest first" empty="No event on this page matches." />
      )}
    </section>
  );
}
