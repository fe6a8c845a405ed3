import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function AuditScreen(props: ScreenProps) {
  return (
    <Page title="Audit">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
