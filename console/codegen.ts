// Types for every operation the console sends, generated from the server's
// exported schema. A field the console uses that the schema no longer has
// fails here ("Cannot query field ..."), so a breaking schema change fails
// the console's build, not its users.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  errorsOnly: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: "string", JSON: "unknown", ID: "string" },
        strictScalars: true,
      },
    },
  },
};

export default config;
