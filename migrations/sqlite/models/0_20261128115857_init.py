from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "workspace" (
    "id" VARCHAR(63) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "secret" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(128),
    "secret_type" VARCHAR(32) NOT NULL /* API_KEY: API_KEY\nDATABASE_CREDENTIAL: DATABASE_CREDENTIAL\nOAUTH_TOKEN: OAUTH_TOKEN\nSSH_KEY: SSH_KEY\nJWT_SECRET: JWT_SECRET\nENCRYPTION_KEY: ENCRYPTION_KEY\nPASSWORD: PASSWORD\nCERTIFICATE: CERTIFICATE\nWEBHOOK_SECRET: WEBHOOK_SECRET\nGENERIC: GENERIC */,
    "usage" TEXT,
    "tags" JSON NOT NULL,
    "metadata" JSON NOT NULL,
    "rotation_policy" VARCHAR(32) NOT NULL /* MANUAL: MANUAL\nAUTO_30_DAYS: AUTO_30_DAYS\nAUTO_60_DAYS: AUTO_60_DAYS\nAUTO_90_DAYS: AUTO_90_DAYS\nAUTO_180_DAYS: AUTO_180_DAYS\nAUTO_365_DAYS: AUTO_365_DAYS */,
    "last_rotated_at" TIMESTAMP,
    "rotation_due_at" TIMESTAMP,
    "rotation_notified_at" TIMESTAMP,
    "is_active" INT NOT NULL,
    "current_version" INT NOT NULL,
    "encryption_backend" VARCHAR(64) NOT NULL,
    "created_by_user_id" CHAR(36),
    "updated_by_user_id" CHAR(36),
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "destroyed_at" TIMESTAMP,
    "workspace_id" VARCHAR(63) NOT NULL REFERENCES "workspace" ("id") ON DELETE RESTRICT,
    CONSTRAINT "uid_secret_workspa_809fd9" UNIQUE ("workspace_id", "name")
);
CREATE INDEX IF NOT EXISTS "idx_secret_workspa_8f724c" ON "secret" ("workspace_id", "rotation_due_at");
CREATE TABLE IF NOT EXISTS "secret_tag" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "workspace_id" VARCHAR(63) NOT NULL,
    "tag" VARCHAR(64) NOT NULL,
    "secret_id" CHAR(36) NOT NULL REFERENCES "secret" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_secret_tag_secret__4d9bb8" UNIQUE ("secret_id", "tag")
) /* One row per (secret, tag): an index for the tag filter. */;
CREATE INDEX IF NOT EXISTS "idx_secret_tag_workspa_0f7a2f" ON "secret_tag" ("workspace_id", "tag");
CREATE TABLE IF NOT EXISTS "secret_version" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" INT NOT NULL,
    "ciphertext" BLOB,
    "wrapped_key" BLOB,
    "backend" VARCHAR(64) NOT NULL,
    "key_id" VARCHAR(255) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "created_by_user_id" CHAR(36),
    "secret_id" CHAR(36) NOT NULL REFERENCES "secret" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_secret_vers_secret__8ce09d" UNIQUE ("secret_id", "version")
);
CREATE INDEX IF NOT EXISTS "idx_secret_vers_backend_bb2cef" ON "secret_version" ("backend", "key_id");
CREATE TABLE IF NOT EXISTS "secret_audit" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "seq" BIGINT NOT NULL,
    "workspace_id" VARCHAR(63) NOT NULL,
    "secret_id" CHAR(36),
    "action" VARCHAR(32) NOT NULL /* CREATED: CREATED\nACCESSED: ACCESSED\nLISTED: LISTED\nUPDATED: UPDATED\nROTATED: ROTATED\nROLLED_BACK: ROLLED_BACK\nDELETED: DELETED\nRESTORED: RESTORED\nDESTROYED: DESTROYED\nIMPORTED: IMPORTED\nROTATION_DUE: ROTATION_DUE\nKEY_ROTATED: KEY_ROTATED\nACCESS_DENIED: ACCESS_DENIED\nPRINCIPAL_CREATED: PRINCIPAL_CREATED\nTOKEN_CREATED: TOKEN_CREATED\nTOKEN_REVOKED: TOKEN_REVOKED\nROLE_GRANTED: ROLE_GRANTED\nROLE_REVOKED: ROLE_REVOKED */,
    "user_id" CHAR(36),
    "ip_address" VARCHAR(64),
    "user_agent" VARCHAR(512),
    "details" JSON NOT NULL,
    "success" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "prev_hash" VARCHAR(64) NOT NULL,
    "hash" VARCHAR(64) NOT NULL,
    CONSTRAINT "uid_secret_audi_workspa_7478c6" UNIQUE ("workspace_id", "seq")
);
CREATE INDEX IF NOT EXISTS "idx_secret_audi_workspa_9eef07" ON "secret_audit" ("workspace_id", "secret_id", "seq");
CREATE INDEX IF NOT EXISTS "idx_secret_audi_workspa_37d000" ON "secret_audit" ("workspace_id", "action", "seq");
CREATE INDEX IF NOT EXISTS "idx_secret_audi_created_5384e2" ON "secret_audit" ("created_at");
CREATE TABLE IF NOT EXISTS "audit_chain_head" (
    "workspace_id" VARCHAR(63) NOT NULL PRIMARY KEY,
    "seq" BIGINT NOT NULL,
    "hash" VARCHAR(64) NOT NULL,
    "purged_through_seq" BIGINT NOT NULL,
    "purged_through_hash" VARCHAR(64) NOT NULL
) /* The newest event of each workspace's chain. */;
CREATE TABLE IF NOT EXISTS "principal" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(128) NOT NULL UNIQUE,
    "is_superadmin" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "role_binding" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "role" VARCHAR(16) NOT NULL /* VIEWER: VIEWER\nREADER: READER\nWRITER: WRITER\nAUDITOR: AUDITOR\nADMIN: ADMIN */,
    "created_at" TIMESTAMP NOT NULL,
    "principal_id" CHAR(36) NOT NULL REFERENCES "principal" ("id") ON DELETE CASCADE,
    "workspace_id" VARCHAR(63) NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_role_bindin_princip_b0aad0" UNIQUE ("principal_id", "workspace_id")
);
CREATE TABLE IF NOT EXISTS "api_token" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(128) NOT NULL,
    "token_hash" VARCHAR(64) NOT NULL UNIQUE,
    "prefix" VARCHAR(16) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP,
    "last_used_at" TIMESTAMP,
    "revoked_at" TIMESTAMP,
    "principal_id" CHAR(36) NOT NULL REFERENCES "principal" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_api_token_princip_557dc0" ON "api_token" ("principal_id", "created_at");
CREATE TABLE IF NOT EXISTS "key_rotation_job" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "target_backend" VARCHAR(64) NOT NULL,
    "target_key_id" VARCHAR(255) NOT NULL,
    "status" VARCHAR(16) NOT NULL /* RUNNING: RUNNING\nCOMPLETED: COMPLETED\nFAILED: FAILED */,
    "last_version_id" BIGINT NOT NULL,
    "rewrapped" INT NOT NULL,
    "started_by_user_id" CHAR(36),
    "started_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "error" TEXT
);
CREATE INDEX IF NOT EXISTS "idx_key_rotatio_status_5d1115" ON "key_rotation_job" ("status", "started_at");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXetT2zoW/1c0+bJ0hstAeJSyOzvjJKa4QMI6ppRbdzxOIogvRk5tpZC92/99JVl+yI"
    "8QhwSMMR+IHudI9u/ocXR0JP/duHdG0Pa2rhz3zpuYQ9g4An83kHlPA+nMTdAwJ5MoiyZg"
    "c2Az6geBbOBh1xxiknFj2h4kSSPoDV1rgi0HkVQ0tW2a6AwJoYVuo6Qpsn5OoYGdW4jH0C"
    "UZ33+QZAuN4CP0gujkzrixoD0SHtga0bpZuoFnE5bWHpvuMaOk1Q2MoWNP71FEPZnhsYNC"
    "cvI0NPUWIuiaGI5iL0Cfj79skOQ/K0nA7hSGDzmKEkbwxpzaOPbCAyNKaxhGt6cZfVkzjE"
    "YBiIYOovBaCHvs/e/NR8OG6BaPSfRg97dfT4SDT0Ur/Cqp7RNJ3TjY/UArdIiMfOl1eU6T"
    "Zf1mRZjY9AthqEcws98CQAf0q4E6SIiwjlrYi4Pd3N5eAG1ClQs3y6N4R/gOXUjxMEycRr"
    "lDcrB1D7ORFjkTeI8461YQeIvokxcc9ZA9411sDviaci73Nen8glZ373k/bYafpMk0p8lS"
    "Z4nUjYOEnMJCwJWinQAaBX/2ujKD1/HwrctqjOi0Pxv0mcwpdgzkPBjmKDYaBKkBar/pSH"
    "ZzF+tkNGFgDu8eTHdkCDlR8/AgETP20m2jxRmPT1VomwzadCvgg3qfFfIGW8DvoM0HqVFL"
    "iCAakIcjhTwTI9WxYcsvqUpA0TbmNJ28VpfOum/eJ1NMZN6yV6J105rEZpWhRUQNLl+F8C"
    "KaleoP30XlhD3Zj4RSEaMxfM3AdTBrIMaIFEdG1B+F9I7LS6VTQO+YTq3RFuVZj/bR+NfN"
    "FA3p2wBWE/239+/Gepte1qjM5sNdf5iND6Ds1UukdnAEy9KZRa1jp3m4gNZBqHK1DpYnah"
    "1+5/NhykRZRtN7hrRCHs1Efl8SEE8UUWZ9ryFdKMapfH0EeEBHRAmQWlJfNtqq3JG7miKd"
    "HYGMRB31pEvtxNB6p3L3CMQiOur3T/xSeUBHX67oMxBu7QhEYR3J3bZ6faEpva7PIMZ1dC"
    "H1+1c9tXMEgpCO2rKqKcdKm2grRyAW0dGV3Drp9U7DmsS4jj7LXVlV2keABxpLtLrd5gKN"
    "breZ2+Zoltjkph6ZRdKNTYOPOLtLhwxV6NPzdFf5myaorQGKG+fStw+C6nrW634OyGOot8"
    "96rQTa2MxSiL70e91ssAP65DLCGmLwP2Bb3trUx9hsNZhaNraQt0Xre40Ji+IzXxRJ1BMz"
    "Gy0gKYp7iE06zxURR5ynHCKh1VZGJKG2N3FsazhbdgrMKKbU0+C51L2k85z/qyMymfWM3W"
    "2jI133ydwYi/G8AyHvQMj7JOR9EvJ2DoXMIBrUeLAvVMmj5ZimbNPDBhPsUkaZDPYVWGbe"
    "0GRWIkNMgEnKEpM5FPCFX0F5Z7DX8n4T8kYOtsgbLdPJ88qoJV9myVueYRKl5lfGIqTlOD"
    "Y0UY4JJ86XEPGAMK5rgg/sOi8r1lavdyZItKUklxuX5y1Z3dhhoiREFmbJSldLbm1MXRci"
    "bPyCrsdtryLsCspZ+mVwJoCnJs414b6zJtDJw5KfP5o7ex/3DncP9g4JCXvKMOXjHLmk4Y"
    "Vo6M7YUxjUngtRoQ3RbO4yq6/LbpHuLbJFupe/RbqXt2U3mBlTD7pGMYtwNvczLMRvZ8p4"
    "0h4csxZNRs/AOJu7xrjeen6Hek/QGYqLWeSsxVxqMRMIsOvMlhJ0krdeyJRZ0sm960VVvi"
    "RfFZW9lfjDpTx1MrBPA3/suNC6RadwlrIaZ7ucCL6Wbwz2PIcTkuyaD6HbRKrNUUsZtKG/"
    "ZFRJV1CVNlnYLOIKhc1bw3UeVuILpZmV8vKJjw58zbwSmL5G6++qQLV+hyjatnJ9onjDe8"
    "otysCc7inXqEYPQUB6BZhAF2z4zJuAcH84AiYCDH1w47gAjyFNBjeWjaG7ldxsWbYcHelI"
    "40l0SxJ4Y+cBAeyAoW1BIgxgecB/9S26x/xPUgBJYa9Lsx5cC2NIK6Al68gjoBFBmSTgb0"
    "CaaATgIynZA55DaEzMqybPDQYzWjGrI3hIOAJ/ORZ5KsILSV+YAbqPOjA9Uh1pC9AcAecG"
    "mGBkmTYc4j+8CRxaN9YQ0H1CQNquO2PgZHqWRT5rVD5Pe5WFVAt7krWs21yrWOasnWEI4+"
    "NweV3YfUPYp2Zzd/djc3v34HB/7+PH/cPt0CKWzppnGmspn6l1TJjSA3NZvodZrUWt/VSB"
    "MHcXwZiTVxHalVsj+YRRzEAmMK3SO7Uc0/4ShrE5On806j9T4a+cH35S2xealaDqt6V+W+"
    "rI8zT99WtmgTqbq53F9N0nNbTY3tSqHdijBhdUklY1Yps2d3BGIa8VjXIqGsW3P19l23P9"
    "cljZzufQmpC+guFjxqDcspDpznK2LQS+5Fb+DEOvUobNFveGDG2aRItoKV1Jvc72LG5leE"
    "+2rjVZSsD/4JLBEY4MMu4Uwz/BWAtgSQEssd1f7/EX06r5nFoA4YijggA39/cXOfq8v59/"
    "9Jnm1fvP73C7qnaXWb8rR20EqI0AtRFgISOANB1Zcw6t+9mbCxgAzJByXefXOYYe/LnAXo"
    "MAO2PZBGkqf1dFIIlNpvWp95cYtvNNBVQmKZjnWWo4Q5WsBC9iram3gV5lG+hV1ZRKKn7R"
    "eL7MAdaIu8zNt9FWZbKQ6RwBHtCR1G7L/T5NCkI6OlP6jMj/1dHlRcfn4gEdqT3NT+EBmn"
    "J2JneMltQ+palhREcd+UxmtDxAaMlKqKcydh6iVH1N7V37dDyoI+X8oqcy5iDE66YXPnQu"
    "Zf4APKajU/naCJ8tFgne0+jIXSV6WR7V0YWqdNvKhXRmhAilknTEbquIKIRokKvKX8lvmM"
    "ujDB/Z+KxKXQ5bFON5IWM81lhisFnHhRPFzw3UK8y8gcaa0DU/yc9wLJtz7aLAVYWLPNZt"
    "eGRNkKxfUMZaMx9nkat6OO/vLDI8EKpcpFmeCPUIYtOyC12TEmOpr+UQDJCruJbDmw6HmQ"
    "PM3PO5Ma4XPJ37SjtKKzydW1vf34P1feLCX8bY9MZFphOBqcxLg9JM20URrsF9AtyUKf51"
    "bMbMHEzEaKETaIom0WyKzXmWY2YyNoaU2BgH1E+6+FP/egQfoIepRzvC1IEdmsMxCG1Q//"
    "AAKzTt1l+Al7ryX7lkvnA9YDvDO99Tn54J2OiTNXBbA1tbW+C4p/IFNSB6yIU/WvX/c/aB"
    "+vxT9w402gSeoyPSRvg1DszJn5ZKGBwEo6oB0Vot07b+S9Is0g+mGJj8aAB9gDw//IQpPN"
    "dmXS7T3ru6Nb42ZL+4IbuegdY4vU+mLpkeDDx2nent2CjcvLP5X661b1eqqSfQLKzdZrO/"
    "XEdobD/zb10L/gorchfkxYfWxLSzdLgoc676NhHISvPVm3of/k3fPl9mTXEtl89bnuFNJw"
    "SS0b2VsXX51GV8Iu8LmvzClNrmVz2bX/2xofpLOrGOOP+ODezcwefesCFNLI0WUyWM1qnA"
    "xZtVhgqXaHX5SpxLCI1BjHLF3puCkhhdF5R04KwPa5bysCZtHdma3yKfA7DL/ymcr4p8Ja"
    "tHwP+lXk1Sh8b9Xx1dqYpG4/4vvbG/o2g9ld7VzwIkpXOudEmc/iTtzQvplAeLqJTJ+TKm"
    "UR7UB4neq1oj7mzygbagk1eSrz75UrtEl+Z+QUF7eOZJI8Gq9cZgX/SwUbIzZ583ymzdK0"
    "D43d/g+MonusI1VNa+fGx9NWdHfmIZOCRbp0n3e6qt1gevaoNvGUaCFzD5si5WeKNO5Kqc"
    "cX0N29QuvLEeC+2FhhxVbMr1SrNeaa5gpQkfJxYpbQmpi5z1tfpl9pRmn26cest/9jHGW0"
    "u6zJJ24S+iWSz15T+Bs5ZymaVc2wdf5mac2mS1DpPV6xhUiKRU/nHTL86gkWFWSVBszjOu"
    "0Cvxwm+l/sWp12tjIQ0MT9lTkJBbW1dKYV0hkiAiW+YrlWnOCi5TV28H4LAVv8QyxVhBuN"
    "dyl2U07izjORBxlxnvhnrZ7Srdz0eAB3TU7p1f8HtSwqCOjiXljCb5v40lZLR6yw1bofGL"
    "tTM7xTwfmwzm+uzGcmc3XMhvgU5LIBd+gacywK/sOvRA01nugtVs7vr6m2yMi5sMRM4KGn"
    "6rZDOov5X7LsR8YyHLGy8l5wRrbQIss5yh6zpuWsIafMzRNEKGKlyhNU+S8jdNEGLq+ibh"
    "wxQBefJOp9Kc7pSgaw3HjSw3ID9nc64TUERTmkOd78Xf/5la8BKfXcq3fuR/d6lU6/Ay2T"
    "1opyqAMCevILo729uLmCy2t/NtFjQv4W7iIJx5E2T+DYUxlpe/ofB1JrOV3UX4qpPZ7/8D"
    "EBSvUQ=="
)
