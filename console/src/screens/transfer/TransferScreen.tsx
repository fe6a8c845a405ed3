import type { ScreenProps } from "../../App";
import { Page } from "../../components/Page";

export function TransferScreen(props: ScreenProps) {
  return (
    <Page title="Transfer">
      <p className="muted">Not built yet ({props.workspaceId}).</p>
    </Page>
  );
}
