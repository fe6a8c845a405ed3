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
    "action" VARCHAR(32) NOT NULL /* CREATED: CREATED\nACCESSED: ACCESSED\nLISTED: LISTED\nUPDATED: UPDATED\nROTATED: ROTATED\nROLLED_BACK: ROLLED_BACK\nDELETED: DELETED\nRESTORED: RESTORED\nDESTROYED: DESTROYED\nIMPORTED: IMPORTED\nROTATION_DUE: ROTATION_DUE\nKEY_ROTATED: KEY_ROTATED\nACCESS_DENIED: ACCESS_DENIED\nPRINCIPAL_CREATED: PRINCIPAL_CREATED\nTOKEN_CREATED: TOKEN_CREATED\nTOKEN_REVOKED: TOKEN_REVOKED */,
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
    "hash" VARCHAR(64) NOT NULL
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
    "eJztXW1T2zoW/iuafFk6w2UgvJRmd3bGSUxxgYR1TCm37ngcR4AvRk5tpZC92/++kizHll"
    "9CHBIwxl8SWTpHkp+jl6OjI/nvxr07go6/del6d/7YtGCjBf5uIPOeBtKJm6BhjsdREo3A"
    "5tBh1A8C2dDHnmlhknBtOj4kUSPoW549xraLSCyaOA6NdC1CaKObKGqC7J8TaGD3BuJb6J"
    "GE7z9ItI1G8BH64eP4zri2oTMSKmyPaNks3sDTMYvr3JreEaOkxQ0Ny3Um9yiiHk/xrYtm"
    "5KQ2NPYGIuiZGI5iL0Drx182jArqSiKwN4GzSo6iiBG8NicOjr3w0IjiGobR62vGQNYMo1"
    "EAIstFFF4bYZ+9/735aDgQ3eBb8niw+zsoJ8IhoKIFfpXUzrGkbhzsfqAFukRGgfR6PKXJ"
    "kn6zLExsBpkw1COY2X8BoEP61UAdRkRYRy3sxcFubm8vgDahyoWbpVG8I3wtD1I8DBOnUe"
    "6SFGzfw2ykRc4E3iPOuhUG3iL65AVHfeRMeRebA76mnMkDTTo7p8Xd+/5Ph+EnaTJNabLY"
    "aSJ24yAhp1km4FLRjgF9BH/2ezKD1/XxjcdKjOi0Pxu0TuYEuwZyHwxzFBsNwtgQtd90JL"
    "u+i3UyGjE0rbsH0xsZQkrUPHxIxIz9dNtoc8ajExU6JoM23Qr4oD5gmbzBFvA7bPNhbNQS"
    "IoiGpHIkk2dipLoObAc5VQko2sbcppvX6tJJ9837ZIyJzBv2SrRsWpLYrDK0iKjB5asQfk"
    "SzUv3hu6icsJr9SCgVMRoj0Aw8F7MGYoxIdmRE/VFI77i4ULoF9I7JxB5tUZ71aB+Nf11P"
    "kEXfBrCS6M/evxvrbXpZozKbD3eDYTY+gLJXL5HawREsS2cWtY6d5uECWgehytU6WJqodQ"
    "SdL4ApE2UZTe4Z0gqpmomCviQgnsiizPpeQzpXjBP5qgV4QEdECZDa0kA2OqrclXuaIp22"
    "QEakjvrShXZsaP0TudcCsQcdDQbHQa48oKMvl7QOhFtrgSisI7nXUa/ONaXfCxjEZx2dS4"
    "PBZV/ttkAY0lFHVjXlSOkQbaUFYg86upTbx/3+yawk8VlHn+WerCqdFuCBxhKtbre5QKPb"
    "bea2OZokNrmJT2aRdGPT4CPO7tIzhir06Xm6q/xNE9TWEMWNM+nbB0F1Pe33PofkMdQ7p/"
    "12Am1sZilEXwb9XjbYIX1yGWFbGPwPOLa/NvUxNlsNJ7aDbeRv0fJeY8Ki+MwXRRL1xMxG"
    "M0iK4h5ik85zRcQR5ymHSGixlRHJTNsbu45tTZedAjOyKfU0eCb1Lug8F/zriExmfWN32+"
    "hKVwMyN8aeeNqBkHYgpH0S0j4JaTuHQmL4GJZ4sC8UyR/LMU05po8NJtiljDIZ7CuwzLyh"
    "yaxEhpgQk5QlJnMo4Au/gvLOYK/l/SbkjVxskzdappPn5VFLvsySt33DJErNr4xFSNt1HW"
    "iiHBNOnC8h4iFhXNcEH9p1Xlas7X7/VJBoW0kuNy7O2rK6scNESYhszKKVnpbc2ph4HkTY"
    "+AU9n9teRdgVlLP0y+BMAE9NnGvCfWdNoJPKkr8/mjt7H/cOdw/2DgkJq+Us5uMcuaThhc"
    "jypqwWBrXnQlRoQzSbu8zq67JbpHuLbJHu5W+R7uVt2Q2nxsSHnlHMIpzN/QwL8duZMp60"
    "B8esRePRMzDO5q4xrree36HeE3aG4mIWOWsxl1rMBALsudOlBJ3krRcyZZZ0cu96UZUvyV"
    "dFZW8l/nApT50M7NPAH7ketG/QCZymrMbZLieCr+Ubgz3P4YREe+bDzG0i1eaopQw6MFgy"
    "qqQrqEqHLGwWcYXC5o3huQ8r8YXSzEp5+cRHB75mXglMX6P1d1WgWr9DFG1buT5RvOE95R"
    "ZlYE73lGtUo48gIL0CjKEHNgLmTUC4P7SAiQBDH1y7HsC3kEaDa9vB0NtKbrYsm4+OdKTx"
    "KLolCfxb9wEB7ALLsSERBrB9ELz6Ft1j/ifJgMSw16VJD56NMaQF0Jx15BPQiKBMEgg2IE"
    "00AvCR5OwD3yU0JuZFk3qD4ZQWzMoIKwlH4C/XJrUivJD0hSmg+6hD0yfFkbYAzRFwr4EJ"
    "RrbpQAv/4Y+hZV/bFqD7hIC0XW/KwMn0LIt81qh8nvYqm1Et7EnWtm9yrWKZs3aGIYyPw+"
    "V1YQ8MYZ+azd3dj83t3YPD/b2PH/cPt2cWsXTSPNNYW/lMrWPClB6ay/I9zGotau2nCoS5"
    "uwjGnLyK0K7cGsknjGIGMoFpld6p5Zj2lzCMzdH5o1H/mQp/5fzwk9q+0KwEVb8jDTpSV5"
    "6n6a9fMwvV2VztLKbvPqmhxfamVu3AHjW4sJC0qhHbtLmDUwp5rWiUU9Eovv35Ktue65fD"
    "ynY+LXtM+gqGjxmDcttGpjfN2bYQ+JJb+VMM/UoZNtvcG3Jm0yRaRFvpSepVtmdxO8N7sn"
    "2lyVIC/gePDI5wZJBxpxj+CcZaAEsKYInt/nqPv5hWzefUAghHHBUEuLm/v8jR5/39/KPP"
    "NK3ef36H21W1u8z6XTlqI0BtBKiNAAsZAaTJyJ5zaD1I3lzAAGDOKNd1fp1j6MOfC+w1CL"
    "Azlk2Qpgp2VQSS2GRan3p/iWE731RAZZKCeZ6lhjNUyUrwItaaehvoVbaBXlVNqaTiF43n"
    "yxxgjbjL3HwbHVUmC5luC/CAjqRORx4MaFQY0tGpMmBEwb+OLs67ARcP6Ejta0EMD9CY01"
    "O5a7SlzgmNnT3oqCufyoyWBwgtWQn1VcbOQ5RqoKn9q4COB3WknJ33VcYchnjZ9MKH7oXM"
    "K8CfdHQiXxmzusUewvc0unJPiV6WP+roXFV6HeVcOjVmCKWidMRuq4gohMcwVZW/kv9ZKn"
    "9sLDForOPiiOL+//VKMW/AsMd07U7SMxzE5lyfKHBV4UKOdRsQWRMk6xCUsWbMx1nkqh7O"
    "+zuLDA+EKhdpliZCPYLYtJ1C153EWOrrNQRD4iqu1/AnlpU5wMw9ZxvjesFTtq+0M7TCU7"
    "a1Ff09WNHHHvxl3Jr+bZHpRGAqs4pfmmm7KMI1uE+AmzKpv47tl5l1iRhtdAxN0bSZTbE5"
    "zwLMTL+GRYmN25D6SVd96ieP4AP0MfVMR5g6okPTugUzW9I/fMAyTbvnF+ClLvmXHpkvPB"
    "84rnUXeNxT3/6NAVnLdjSwtbUFjvoqXxgDooecB6PV4D+nH6jvPnXTQKNN4Ls6Im2EX8fA"
    "nPVproTBRTAqGhCt1TYd+78kzib9YIKByV38aQXy/OkTJu1c23O5THTv6vb32iD94gbpeg"
    "aq5gx0Tl7cssemkzX5RIlz552xQFaaz27UG4Fv+vrrMk9xa7n92vYNfzImkIzu7Yy9k6du"
    "AxN5X9BWMYupjRXVM1bUXzupP+UR64jzD/lj9w4+94i/NLY1mk2VMFqnAhdvVhkqXKLV5S"
    "txHiE0hjHKFbuPCUpidF9J0oOsPi1WytNitHVka36L3EfulP9bHF8V+VJWWyD4p24VUpc+"
    "B/86ulQVjT4H//TK8K6i9VV6WTgLkJjumdIjz/QvaShbSKc8WESlTM6XMY3yoD7J8F7VGn"
    "FLhg+0Bb1Tkny1633tk1maC84E7eGZRx0Eq9Ybg33R0w7Jzpx94CGzda8A4Xd/hdwrHymZ"
    "raGyNhRj66s5W4lj28AzsnWadL+n2mp98qM2+JZhJHgBky/rYoX9Z0SuyhnXV+8+M/bgtf"
    "1YBOKIo4pNuV5p1ivNFaw04ePYJrktIXWRs77Xu8wunuzbcRN/+e/OxXhrSZdZ0h78RTSL"
    "pT49JnDWUi6zlGv74MtczVGbrNZhsnodgwqRlMq/rvjFHTYyzCoJis15xhV6J9fsY41/ce"
    "r12lhIA8MTVgsS8mrrSimsK0QSRGTLfCYvzVnBZerq7QActuK36KUYKwj3Wi7Ti8adZTwH"
    "Iu4y491QL3o9pfe5BXhAR53+2Tm/qGEW1NGRpJzSqOC/sYSMVm+5YSs0frNvZqeY52OTwf"
    "xyRyy219UrXuV8hQf5NbRpCeTCL/BUBviV3cccajrL3fCYzV3f25GNcXGTgchZQcNvlWwG"
    "9cc634WYr21k+7dLyTnBWpsAyyxn6Hmul5awBh9zNI0ZQxXu/pknSfmbJggxde+McDN+SJ"
    "68jKY0pzsl6NnWbSPLDShI2ZzrBBTRlOZQ53vx93+mFrzEd1/yrR/5H34p1Tq8THYP2qkK"
    "IMzJK4juzvb2IiaL7e18mwVNS7ibuAhnXmGXf7VajOXlr1Z7nclsZZeovepk9vv/diGdIw"
    "=="
)
