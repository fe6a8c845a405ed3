import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function DriftScreen(props: ScreenProps) {
  return (
    <Page title="Drift">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
