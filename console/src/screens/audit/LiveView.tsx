// Audit events as they are committed, over the session's websocket. Pausing
// freezes the table, not the stream: events keep arriving (and count) so
// nothing is missed on resume. Only the newest LIVE_LIMIT are kept in memory.
import { useState } from "react";
import { useSubscription } from "urql";
import { graphql } from "../../gql";
import { ErrorNotice } from "../../components/ErrorNotice";
import { AuditTable, matches } from "./events";
import type { AuditFilters, AuditRow } from "./events";

export const LIVE_LIMIT = 500;

const AuditEventsSubscription = graphql(`
  subscription AuditEvents($workspaceId: ID!, $secretId: ID) {
    auditEvents(workspaceId: $workspaceId, secretId: $secretId) {
      ...AuditRowFields
    }
  }
`);

export function LiveView(props: { workspaceId: string; filters: AuditFilters }) {
  const [paused, setPaused] = useState<readonly AuditRow[] | null>(null);
  const [result, resubscribe] = useSubscription(
    { query: AuditEventsSubscription, variables: { workspaceId: props.workspaceId, secretId: props.filters.secretId } },
    (previous: readonly AuditRow[] = [], response) => [response.auditEvents, ...previous].slice(0, LIVE_LIMIT),
  );
  const received = result.data ?? [];
  const shown = (paused ?? received).filter((row) => matches(row, props.filters));
  const arrivedWhilePaused = paused ? received.filter((row) => !paused.includes(row)).length : 0;
  // urql reports `fetching` only until the first event, and the session's
  // socket is not visible from here: the stream counts as up from its start
  // until it fails (the server ends a stream only with an error: FORBIDDEN,
  // UNAUTHENTICATED, or the socket lost after graphql-ws's retries).
  const connected = !result.error && (result.fetching || result.data !== undefined);
  return (
    <section className="audit-section" aria-labelledby="live-title">
      <h2 id="live-title">Live events</h2>
      <p className="audit-status" role="status">
        {connected ? (
          <span className="badge badge-ok">Live: connected</span>
        ) : (
          <span className="badge badge-bad">Live: not connected</span>
        )}{" "}
        {paused
          ? `Paused: ${arrivedWhilePaused} new event${arrivedWhilePaused === 1 ? "" : "s"} held.`
          : `${received.length} event${received.length === 1 ? "" : "s"} received (the newest ${LIVE_LIMIT} are kept).`}
      </p>
      <div className="actions">
        {paused ? (
          <button type="button" onClick={() => setPaused(null)}>
            Resume
          </button>
        ) : (
          <button type="button" onClick={() => setPaused(received)}>
            Pause
          </button>
        )}
        {!connected && (
          <button type="button" onClick={() => resubscribe()}>
            Reconnect
          </button>
        )}
      </div>
      {result.error && <ErrorNotice error={result.error} what="follow the audit trail live" />}
      <AuditTable rows={shown} caption="Live audit events, newest first" empty="No event matching the filters yet." />
    </section>
  );
}
