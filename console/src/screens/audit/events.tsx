// The audit events' filters and table, shared by the live and history views.
import { graphql } from "../../gql";
import type { AuditAction } from "../../gql/graphql";
import { Time } from "../../components/Time";

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  "CREATED", "ACCESSED", "LISTED", "UPDATED", "ROTATED", "ROLLED_BACK", "DELETED", "RESTORED", "DESTROYED",
  "IMPORTED", "ROTATION_DUE", "KEY_ROTATED", "ACCESS_DENIED", "PRINCIPAL_CREATED", "TOKEN_CREATED",
  "TOKEN_REVOKED", "ROLE_GRANTED", "ROLE_REVOKED", "ROTATION_NOTIFIED", "VIEWED", "COMPARED",
];

/** The fields of an AuditEvent both views ask for. */
/** The columns of an audit row, asked for in the same words by the live view and the history. */
export const AuditRowFields = graphql(`
  fragment AuditRowFields on AuditEvent {
    id
    seq
    createdAt
    action
    success
    secretId
    userId
    ipAddress
    details
  }
`);

export interface AuditRow {
  id: string;
  seq: number;
  createdAt: string;
  action: AuditAction;
  success: boolean;
  secretId?: string | null;
  userId?: string | null;
  ipAddress?: string | null;
  details: unknown;
}

export interface AuditFilters {
  action: AuditAction | null;
  success: boolean | null;
  /** A resolved secret id (a name is resolved before it becomes a filter). */
  secretId: string | null;
  userId: string | null;
}

export const NO_FILTERS: AuditFilters = { action: null, success: null, secretId: null, userId: null };

export function matches(row: AuditRow, filters: AuditFilters): boolean {
  return (
    (filters.action === null || row.action === filters.action) &&
    (filters.success === null || row.success === filters.success) &&
    (filters.secretId === null || row.secretId === filters.secretId) &&
    (filters.userId === null || row.userId === filters.userId)
  );
}

/** The secret's name when the event recorded one (reads and views do): no extra query. */
function recordedName(details: unknown): string | null {
  if (typeof details === "object" && details !== null && "name" in details) {
    const name = (details as { name: unknown }).name;
    return typeof name === "string" ? name : null;
  }
  return null;
}

export function AuditTable(props: { rows: readonly AuditRow[]; caption: string; empty: string }) {
  if (props.rows.length === 0) return <p className="muted">{props.empty}</p>;
  return (
    <table className="audit-table">
      <caption className="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Action</th>
          <th scope="col">Success</th>
          <th scope="col">Secret</th>
          <th scope="col">Principal</th>
          <th scope="col">IP</th>
          <th scope="col">Details</th>
          <th scope="col">Seq</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => {
          const name = recordedName(row.details);
          return (
            <tr key={row.id} data-event-id={row.id}>
              <td>
                <Time value={row.createdAt} />
              </td>
              <td className="mono">{row.action}</td>
              <td>
                {row.success ? <span className="badge badge-ok">yes</span> : <span className="badge badge-bad">no</span>}
              </td>
              <td>
                {row.secretId ? (
                  <>
                    {name && <strong>{name} </strong>}
                    <span className="mono">{row.secretId}</span>
                  </>
                ) : (
                  <span className="muted">none</span>
                )}
              </td>
              <td className="mono">{row.userId ?? <span className="muted">none</span>}</td>
              <td className="mono">{row.ipAddress ?? <span className="muted">none</span>}</td>
              <td className="details">{JSON.stringify(row.details)}</td>
              <td className="mono">{row.seq}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
