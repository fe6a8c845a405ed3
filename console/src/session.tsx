// The signed-in session: the token (in this page's memory only: not in
// localStorage, sessionStorage, a cookie or the URL), the client bound to
// it, and who it belongs to. Signing out, or the server refusing the token,
// drops all three; a reload starts signed out.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";
import { Provider } from "urql";
import { graphql } from "./gql";
import { errorCode, errorMessage, makeClient } from "./api";
import type { ConsoleClient, SessionEnd } from "./api";
import type { Viewer } from "./permissions";

export const ViewerQuery = graphql(`
  query ConsoleViewer {
    viewer {
      id
      name
      isSuperadmin
      bindings {
        workspaceId
        role
      }
    }
    workspaces {
      id
      name
    }
  }
`);

export interface WorkspaceSummary {
  id: string;
  name: string;
}

interface Session {
  viewer: Viewer;
  workspaces: readonly WorkspaceSummary[];
  signOut(): void;
  /** Reads viewer and workspaces again (after a role or workspace change). */
  refresh(): Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in session");
  return session;
}

interface Signed {
  console: ConsoleClient;
  viewer: Viewer;
  workspaces: readonly WorkspaceSummary[];
}

export interface SessionGate {
  signedIn: boolean;
  ended: SessionEnd | null;
  signIn(token: string): Promise<string | null>;
}

/** Holds the session; renders `signIn` while signed out, `children` after. */
export function SessionProvider(props: { signIn: (gate: SessionGate) => ReactNode; children: ReactNode }) {
  const [signed, setSigned] = useState<Signed | null>(null);
  const [ended, setEnded] = useState<SessionEnd | null>(null);
  const current = useRef<Signed | null>(null);

  const end = useCallback((why: SessionEnd) => {
    current.current?.console.dispose();
    current.current = null;
    setSigned(null);
    setEnded(why);
  }, []);

  const signIn = useCallback(
    async (token: string): Promise<string | null> => {
      const trimmed = token.trim();
      if (!trimmed) return "paste an API token";
      // Headers carry Latin-1 only (fetch throws on anything else, which would
      // read as "server unreachable"); a token is printable ASCII.
      if (!/^[\x21-\x7e]+$/.test(trimmed))
        return "this is not an API token: it has characters no token has (a space, a quote, non-ASCII)";
      let rejected: string | null = null;
      const made = makeClient(trimmed, (message) => {
        if (current.current === null) rejected = message;
        else end({ reason: "unauthenticated", message });
      });
      const result = await made.client.query(ViewerQuery, {}).toPromise();
      if (result.error || !result.data) {
        made.dispose();
        if (rejected) return rejected;
        return result.error ? `${errorCode(result.error)}: ${errorMessage(result.error)}` : "no answer";
      }
      const next = { console: made, viewer: result.data.viewer, workspaces: result.data.workspaces };
      current.current = next;
      setEnded(null);
      setSigned(next);
      return null;
    },
    [end],
  );

  const refresh = useCallback(async () => {
    const now = current.current;
    if (!now) return;
    const result = await now.console.client.query(ViewerQuery, {}).toPromise();
    if (result.data && current.current === now) {
      const next = { ...now, viewer: result.data.viewer, workspaces: result.data.workspaces };
      current.current = next;
      setSigned(next);
    }
  }, []);

  useEffect(() => () => current.current?.console.dispose(), []);

  const session = useMemo<Session | null>(
    () =>
      signed && {
        viewer: signed.viewer,
        workspaces: signed.workspaces,
        signOut: () => end({ reason: "signed-out" }),
        refresh,
      },
    [signed, end, refresh],
  );

  if (!signed || !session) return <>{props.signIn({ signedIn: false, ended, signIn })}</>;
  return (
    <SessionContext.Provider value={session}>
      <Provider value={signed.console.client}>{props.children}</Provider>
    </SessionContext.Provider>
  );
}
