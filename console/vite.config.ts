import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Served by the Strongroom server at /console (graphql_api/console.py), from
// graphql_api/static/console/. Nothing is inlined as a data: URL and nothing
// is loaded from elsewhere: the page runs under a CSP of 'self' only.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "../graphql_api/static/console",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
