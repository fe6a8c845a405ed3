import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function AccessScreen(props: ScreenProps) {
  return (
    <Page title="Access">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
