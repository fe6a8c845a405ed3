// Hash routes (#/w/<workspace>/<screen>/<id>): the server serves one page at
// /console, and the route holds only workspace ids, screen names and secret
// ids, never a token or a value.
import { useEffect, useState } from "react";

export type Screen = "secrets" | "secret" | "audit" | "drift" | "transfer" | "access" | "rotation";

export const SCREENS: readonly Screen[] = ["secrets", "secret", "audit", "drift", "transfer", "access", "rotation"];

export interface Route {
  workspaceId: string | null;
  screen: Screen;
  /** The secret id of the "secret" screen. */
  id: string | null;
}

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(safeDecode);
  if (parts[0] !== "w" || !parts[1]) return { workspaceId: null, screen: "secrets", id: null };
  const screen = SCREENS.includes(parts[2] as Screen) ? (parts[2] as Screen) : "secrets";
  return { workspaceId: parts[1], screen, id: parts[3] ?? null };
}

export function routeHref(route: Route): string {
  if (!route.workspaceId) return "#/";
  const parts = ["w", route.workspaceId, route.screen, ...(route.id ? [route.id] : [])];
  return "#/" + parts.map(encodeURIComponent).join("/");
}

export function navigate(route: Route): void {
  location.hash = routeHref(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
