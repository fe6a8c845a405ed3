import type { ReactNode } from "react";
import { SessionProvider, useSession } from "./session";
import { navigate, routeHref, useRoute } from "./router";
import type { Route, Screen } from "./router";
import { SignIn } from "./screens/SignIn";
import { SecretsScreen } from "./screens/secrets/SecretsScreen";
import { SecretScreen } from "./screens/secrets/SecretScreen";
import { AuditScreen } from "./screens/audit/AuditScreen";
import { DriftScreen } from "./screens/drift/DriftScreen";
import { TransferScreen } from "./screens/transfer/TransferScreen";
import { AccessScreen } from "./screens/access/AccessScreen";
import { RotationScreen } from "./screens/rotation/RotationScreen";

export interface ScreenProps {
  workspaceId: string;
  /** The id part of the route (the secret of the "secret" screen). */
  id: string | null;
}

const NAVIGATION: { screen: Screen; label: string }[] = [
  { screen: "secrets", label: "Secrets" },
  { screen: "audit", label: "Audit" },
  { screen: "drift", label: "Drift" },
  { screen: "transfer", label: "Import / export" },
  { screen: "access", label: "Access" },
  { screen: "rotation", label: "Rotation" },
];

const SCREEN_COMPONENTS: Record<Screen, (props: ScreenProps) => ReactNode> = {
  secrets: SecretsScreen,
  secret: SecretScreen,
  audit: AuditScreen,
  drift: DriftScreen,
  transfer: TransferScreen,
  access: AccessScreen,
  rotation: RotationScreen,
};

export function App() {
  return (
    <SessionProvider signIn={(gate) => <SignIn gate={gate} />}>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const session = useSession();
  const route = useRoute();
  const workspaces = session.workspaces;
  const workspaceId =
    route.workspaceId && workspaces.some((w) => w.id === route.workspaceId) ? route.workspaceId : null;
  const current: (Route & { workspaceId: string }) | null = workspaceId ? { ...route, workspaceId } : null;
  const Current = current ? SCREEN_COMPONENTS[current.screen] : null;
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top-bar">
        <span className="brand">Strongroom</span>
        <span className="workspace-switcher">
          <label htmlFor="workspace-switcher">Workspace</label>
          <select
            id="workspace-switcher"
            value={workspaceId ?? ""}
            onChange={(event) =>
              navigate({ workspaceId: event.target.value, screen: route.screen === "secret" ? "secrets" : route.screen, id: null })
            }
          >
            <option value="" disabled>
              choose…
            </option>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name === w.id ? w.id : `${w.name} (${w.id})`}
              </option>
            ))}
          </select>
        </span>
        <span className="who">
          Signed in as <strong>{session.viewer.name}</strong>
          {session.viewer.isSuperadmin && <span className="badge">superadmin</span>}
        </span>
        <button type="button" onClick={session.signOut}>
          Sign out
        </button>
      </header>
      {current && (
        <nav className="side-nav" aria-label="Screens">
          <ul>
            {NAVIGATION.map((item) => (
              <li key={item.screen}>
                <a
                  href={routeHref({ workspaceId: current.workspaceId, screen: item.screen, id: null })}
                  aria-current={
                    item.screen === current.screen || (item.screen === "secrets" && current.screen === "secret")
                      ? "page"
                      : undefined
                  }
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <main id="main" className="content" tabIndex={-1}>
        {current && Current ? (
          <Current key={`${current.workspaceId}/${current.screen}/${current.id ?? ""}`} workspaceId={current.workspaceId} id={current.id} />
        ) : (
          <ChooseWorkspace />
        )}
      </main>
    </div>
  );
}

function ChooseWorkspace() {
  const { workspaces } = useSession();
  return (
    <section aria-labelledby="choose-title">
      <h1 id="choose-title">Choose a workspace</h1>
      {workspaces.length === 0 ? (
        <p>This token is bound to no workspace. Ask an ADMIN for a role.</p>
      ) : (
        <ul className="workspace-list">
          {workspaces.map((w) => (
            <li key={w.id}>
              <a href={routeHref({ workspaceId: w.id, screen: "secrets", id: null })}>{w.name}</a>{" "}
              <span className="muted mono">{w.id}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
