// The workspace's audit trail: live, stored, and its integrity. Only for
// roles that may read the audit (AUDITOR, ADMIN, superadmin); the server
// refuses the others anyway, so the explanation comes before any request.
import { useState } from "react";
import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";
import { useSession } from "../../session";
import { may, roleIn } from "../../permissions";
import { FilterForm } from "./FilterForm";
import { LiveView } from "./LiveView";
import { HistoryView } from "./HistoryView";
import { IntegrityPanel } from "./IntegrityPanel";
import { NO_FILTERS } from "./events";
import type { AuditFilters } from "./events";
import "./audit.css";

export function AuditScreen(props: ScreenProps) {
  const { viewer } = useSession();
  const [filters, setFilters] = useState<AuditFilters>(NO_FILTERS);
  const [view, setView] = useState<"live" | "history">("live");
  if (!may(viewer, props.workspaceId, "audit")) {
    const role = roleIn(viewer, props.workspaceId);
    return (
      <Page title="Audit">
        <section className="notice notice-forbidden" role="alert" aria-labelledby="forbidden-title">
          <h2 id="forbidden-title">Not allowed</h2>
          <p>
            Your token's role in {props.workspaceId} ({role ?? "none"}) does not allow reading its audit trail (FORBIDDEN).
            Only AUDITOR and ADMIN roles may.
          </p>
          <p>Ask an ADMIN of this workspace for the role you need.</p>
        </section>
      </Page>
    );
  }
  return (
    <Page
      title="Audit"
      actions={
        <div className="actions" role="group" aria-label="View">
          <button type="button" aria-pressed={view === "live"} onClick={() => setView("live")}>
            Live
          </button>
          <button type="button" aria-pressed={view === "history"} onClick={() => setView("history")}>
            History
          </button>
        </div>
      }
    >
      <FilterForm workspaceId={props.workspaceId} onApply={setFilters} />
      {view === "live" ? (
        <LiveView workspaceId={props.workspaceId} filters={filters} />
      ) : (
        <HistoryView key={JSON.stringify(filters)} workspaceId={props.workspaceId} filters={filters} />
      )}
      <IntegrityPanel workspaceId={props.workspaceId} />
    </Page>
  );
}
