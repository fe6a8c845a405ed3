"""Domain logic. Nothing here knows about GraphQL; resolvers call these."""
