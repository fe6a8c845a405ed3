import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function SecretScreen(props: ScreenProps) {
  return (
    <Page title="Secret">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
