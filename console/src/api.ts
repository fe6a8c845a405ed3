// The console's one GraphQL client: HTTP for queries and mutations, the
// graphql-transport-ws protocol for subscriptions, both on this server's
// /graphql and authenticated by the session's token. The token travels only
// in an Authorization header or the socket's connection_init payload, never
// in a URL, and is kept only in this page's memory.
import { Client, fetchExchange, mapExchange, subscriptionExchange } from "urql";
import type { CombinedError } from "urql";
import { createClient as createWsClient } from "graphql-ws";

export const GRAPHQL_PATH = "/graphql";

/** Why a session ended, as the sign-in screen explains it. */
export type SessionEnd = { reason: "signed-out" } | { reason: "unauthenticated"; message: string };

export interface ConsoleClient {
  client: Client;
  dispose(): void;
}

/** Close code the server uses when a socket's token is no longer valid. */
const TOKEN_NO_LONGER_VALID = 4403;

export function makeClient(token: string, onUnauthenticated: (message: string) => void): ConsoleClient {
  const wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${GRAPHQL_PATH}`;
  const ws = createWsClient({
    url: wsUrl,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 3,
    shouldRetry: (event) => !(isCloseEvent(event) && event.code === TOKEN_NO_LONGER_VALID),
    on: {
      closed: (event) => {
        if (isCloseEvent(event) && event.code === TOKEN_NO_LONGER_VALID) {
          onUnauthenticated("the server closed the live connection: this token is no longer valid");
        }
      },
    },
  });
  const client = new Client({
    url: GRAPHQL_PATH,
    // No cache exchange at all: urql's document cache would keep every
    // query's answer in memory, a revealed value or an export's values
    // included, after the screen dropped them. Screens read again after
    // their own changes.
    requestPolicy: "network-only",
    preferGetMethod: false,
    fetchOptions: () => ({
      headers: { authorization: `Bearer ${token}` },
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    }),
    exchanges: [
      mapExchange({
        onError(error) {
          const unauthenticated = error.graphQLErrors.find((e) => e.extensions?.code === "UNAUTHENTICATED");
          if (unauthenticated) onUnauthenticated(unauthenticated.message);
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, dispose: () => void ws.dispose() };
}

function isCloseEvent(event: unknown): event is CloseEvent {
  return typeof event === "object" && event !== null && "code" in event && "reason" in event;
}

/** The error code (extensions.code) of a failed operation, or NETWORK. */
export function errorCode(error: CombinedError): string {
  const coded = error.graphQLErrors.find((e) => typeof e.extensions?.code === "string");
  if (coded) return String(coded.extensions.code);
  return error.networkError ? "NETWORK" : "INTERNAL";
}

/** The server's message without urql's "[GraphQL]" prefix. */
export function errorMessage(error: CombinedError): string {
  const first = error.graphQLErrors[0];
  if (first) return first.message;
  return error.networkError ? "the server could not be reached" : error.message;
}
