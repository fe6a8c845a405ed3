import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function SecretsScreen(props: ScreenProps) {
  return (
    <Page title="Secrets">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
