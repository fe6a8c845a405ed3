// The access screen's operations: principals and their bindings, and tokens.
// A created token's value is read once from createApiToken's answer and
// never asked for again (the server keeps only its hash).
import { graphql } from "../../gql";

export const PrincipalsQuery = graphql(`
  query AccessPrincipals($workspaceId: ID) {
    principals(workspaceId: $workspaceId) {
      id
      name
      isSuperadmin
      bindings {
        workspaceId
        role
      }
    }
  }
`);

export const CreatePrincipalMutation = graphql(`
  mutation AccessCreatePrincipal($name: String!, $bindings: [RoleBindingInput!]!, $superadmin: Boolean) {
    createPrincipal(name: $name, bindings: $bindings, superadmin: $superadmin) {
      id
      name
    }
  }
`);

export const GrantRoleMutation = graphql(`
  mutation AccessGrantRole($principalId: ID!, $workspaceId: ID!, $role: Role!) {
    grantRole(principalId: $principalId, workspaceId: $workspaceId, role: $role) {
      id
    }
  }
`);

export const RevokeRoleMutation = graphql(`
  mutation AccessRevokeRole($principalId: ID!, $workspaceId: ID!) {
    revokeRole(principalId: $principalId, workspaceId: $workspaceId) {
      id
    }
  }
`);

export const TokensQuery = graphql(`
  query AccessTokens($principalId: ID!) {
    apiTokens(principalId: $principalId) {
      id
      name
      prefix
      createdAt
      expiresAt
      lastUsedAt
      revoked
    }
  }
`);

export const CreateTokenMutation = graphql(`
  mutation AccessCreateToken($principalId: ID!, $name: String!, $expiresAt: DateTime) {
    createApiToken(principalId: $principalId, name: $name, expiresAt: $expiresAt) {
      token
      apiToken {
        id
        name
      }
    }
  }
`);

export const RevokeTokenMutation = graphql(`
  mutation AccessRevokeToken($id: ID!) {
    revokeApiToken(id: $id) {
      id
      revoked
    }
  }
`);
