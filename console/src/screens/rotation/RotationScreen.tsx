import { useState } from "react";
import { useQuery } from "urql";
import type { ScreenProps } from "../../App";
import { Loading, Page } from "../../components/Page";
import { ErrorNotice } from "../../components/ErrorNotice";
import { RotationBadge, Time } from "../../components/Time";
import { errorCode } from "../../api";
import { graphql } from "../../gql";
import { useSession } from "../../session";
import type { WorkspaceSummary } from "../../session";
import { may } from "../../permissions";
import { routeHref } from "../../router";
import "./rotation.css";

const RotationDueQuery = graphql(`
  query ConsoleRotationDue($workspaceId: ID!, $daysAhead: Int) {
    rotationDue(workspaceId: $workspaceId, daysAhead: $daysAhead) {
      id
      name
      secretType
      rotationPolicy
      lastRotatedAt
      rotationDueAt
    }
  }
`);

const DAYS_AHEAD_CHOICES = [0, 7, 14, 30, 90];

/** Every workspace the principal may list, with what is overdue or due there. */
export function RotationScreen(_props: ScreenProps) {
  const { viewer, workspaces } = useSession();
  const [daysAhead, setDaysAhead] = useState(7);
  const listable = workspaces.filter((w) => may(viewer, w.id, "list"));
  const hidden = workspaces.filter((w) => !may(viewer, w.id, "list"));
  return (
    <Page
      title="Rotation due"
      actions={
        <label>
          Due within
          <select value={daysAhead} onChange={(event) => setDaysAhead(Number(event.target.value))}>
            {DAYS_AHEAD_CHOICES.map((days) => (
              <option key={days} value={days}>
                {days === 0 ? "overdue only" : `${days} days`}
              </option>
            ))}
          </select>
        </label>
      }
    >
      <p className="muted">
        Secrets whose rotation is overdue or due within the chosen days, across every workspace your roles let you list; overdue
        first.
      </p>
      {listable.length === 0 && <p className="notice">Your roles let you list the secrets of no workspace.</p>}
      {listable.map((w) => (
        <WorkspaceDue key={`${w.id}/${daysAhead}`} workspace={w} daysAhead={daysAhead} />
      ))}
      {hidden.length > 0 && (
        <p className="muted rotation-skipped">
          Skipped (your roles there do not include listing secrets): {hidden.map((w) => w.id).join(", ")}.
        </p>
      )}
    </Page>
  );
}

function WorkspaceDue(props: { workspace: WorkspaceSummary; daysAhead: number }) {
  const { workspace, daysAhead } = props;
  const [result] = useQuery({ query: RotationDueQuery, variables: { workspaceId: workspace.id, daysAhead } });
  const headingId = `rotation-${workspace.id}`;
  const heading = workspace.name === workspace.id ? workspace.id : `${workspace.name} (${workspace.id})`;
  if (result.error) {
    // A workspace the server refuses is one the dashboard cannot cover, not
    // a failure of the dashboard: it says so and goes on with the others.
    if (errorCode(result.error) === "FORBIDDEN") {
      return (
        <section className="rotation-workspace" aria-labelledby={headingId}>
          <h2 id={headingId}>{heading}</h2>
          <p className="muted">Skipped: your roles do not allow listing the secrets of this workspace.</p>
        </section>
      );
    }
    return (
      <section className="rotation-workspace" aria-labelledby={headingId}>
        <h2 id={headingId}>{heading}</h2>
        <ErrorNotice error={result.error} what={`list the rotations due in ${workspace.id}`} />
      </section>
    );
  }
  if (!result.data) return <Loading what={`rotations due in ${workspace.id}`} />;
  const now = new Date();
  const secrets = [...result.data.rotationDue].sort(
    (a, b) => new Date(a.rotationDueAt ?? 0).getTime() - new Date(b.rotationDueAt ?? 0).getTime(),
  );
  const overdue = secrets.filter((s) => s.rotationDueAt && new Date(s.rotationDueAt) <= now).length;
  return (
    <section className="rotation-workspace" aria-labelledby={headingId}>
      <h2 id={headingId}>
        {heading}{" "}
        <span className="rotation-counts">
          <span className={overdue ? "badge badge-overdue" : "badge"}>{overdue} overdue</span>
          <span className={secrets.length - overdue ? "badge badge-due" : "badge"}>{secrets.length - overdue} due</span>
        </span>
      </h2>
      {secrets.length === 0 ? (
        <p className="muted">Nothing due.</p>
      ) : (
        <table>
          <caption className="visually-hidden">Rotations due in {workspace.id}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Due</th>
              <th scope="col">Last rotated</th>
              <th scope="col">Policy</th>
              <th scope="col">Type</th>
            </tr>
          </thead>
          <tbody>
            {secrets.map((secret) => (
              <tr key={secret.id}>
                <td className="name mono">
                  <a href={routeHref({ workspaceId: workspace.id, screen: "secret", id: secret.id })}>{secret.name}</a>
                </td>
                <td>
                  <RotationBadge dueAt={secret.rotationDueAt} now={now} daysAhead={daysAhead} />
                </td>
                <td>
                  <Time value={secret.rotationDueAt} />
                </td>
                <td>
                  <Time value={secret.lastRotatedAt} />
                </td>
                <td>{secret.rotationPolicy}</td>
                <td>{secret.secretType}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
