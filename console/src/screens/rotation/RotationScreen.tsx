import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function RotationScreen(props: ScreenProps) {
  return (
    <Page title="Rotation">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
