/*
 * Starts GraphiQL on Strongroom's GraphiQL page (rendered by
 * graphql_api/graphiql.py, which passes its settings as data- attributes of
 * #graphiql). A served file rather than an inline <script>, so that the
 * page's Content-Security-Policy can say script-src 'self'.
 *
 * The page keeps nothing. What people type here is a superadmin token in the
 * headers editor and secret values in queries and variables, so:
 *
 *  - GraphiQL's storage (tabs, query, variables, headers, history, favourites,
 *    panel and theme choices) is a Map that lives as long as this page, never
 *    localStorage: a reload starts from the defaults again;
 *  - nothing is written to the URL (Strawberry's page mirrors the query and
 *    variables into it with history.replaceState, i.e. into browser history)
 *    and nothing is read from it (a crafted link cannot prefill an operation);
 *  - no cookie is read or written (the API authenticates by bearer token only).
 */
"use strict";

(function () {
  const root = document.getElementById("graphiql");
  const subscriptionsEnabled = root.dataset.subscriptions === "true";
  const defaultHeaders = root.dataset.defaultHeaders || "";

  const EXAMPLE_QUERY = `# Welcome to Strongroom's GraphiQL
#
# Every operation needs your API token: in the "Headers"
# tab below, replace <token> in the Authorization header.
#
# This page keeps nothing: no history, tabs, headers or
# variables are saved, and reloading it starts afresh.
#
#        Run:  Ctrl-Enter (or press the play button)
#   Complete:  Ctrl-Space (or just start typing)
#
{
  viewer {
    name
  }
}
`;

  // The Storage interface GraphiQL expects (its `storage` prop), in memory.
  function pageMemoryStorage() {
    const items = new Map();
    return {
      get length() {
        return items.size;
      },
      key(index) {
        const keys = Array.from(items.keys());
        return index >= 0 && index < keys.length ? keys[index] : null;
      },
      getItem(key) {
        const value = items.get(String(key));
        return value === undefined ? null : value;
      },
      setItem(key, value) {
        items.set(String(key), String(value));
      },
      removeItem(key) {
        items.delete(String(key));
      },
      clear() {
        items.clear();
      },
    };
  }

  // The API answers at this page's own URL, without its query or fragment.
  const endpoint = new URL(window.location.href);
  endpoint.search = "";
  endpoint.hash = "";

  const fetcherOptions = { url: endpoint.href };
  if (subscriptionsEnabled) {
    // GraphiQL's fetcher runs subscriptions through graphql-ws's createClient
    // (graphql-transport-ws) on this URL, with the headers editor's JSON as
    // connectionParams: the server reads "Authorization" from connection_init.
    const socket = new URL(endpoint.href);
    socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
    fetcherOptions.subscriptionUrl = socket.href;
  }
  const fetcher = GraphiQL.createFetcher(fetcherOptions);
  const storage = pageMemoryStorage();
  const plugins = [GraphiQLPluginExplorer.explorerPlugin()];

  function StrongroomGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      plugins: plugins,
      defaultQuery: EXAMPLE_QUERY,
      defaultHeaders: defaultHeaders,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // Also hides the "persist headers" switch: there is nowhere to persist.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(root).render(React.createElement(StrongroomGraphiQL));
})();
