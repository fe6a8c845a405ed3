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
    "last_version" INT NOT NULL,
    "pending_version" INT,
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
    "state" VARCHAR(16) NOT NULL /* ACTIVE: ACTIVE\nPENDING: PENDING\nFAILED: FAILED */,
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
    "action" VARCHAR(32) NOT NULL /* CREATED: CREATED\nACCESSED: ACCESSED\nLISTED: LISTED\nUPDATED: UPDATED\nROTATED: ROTATED\nROLLED_BACK: ROLLED_BACK\nDELETED: DELETED\nRESTORED: RESTORED\nDESTROYED: DESTROYED\nIMPORTED: IMPORTED\nROTATION_DUE: ROTATION_DUE\nKEY_ROTATED: KEY_ROTATED\nACCESS_DENIED: ACCESS_DENIED\nPRINCIPAL_CREATED: PRINCIPAL_CREATED\nTOKEN_CREATED: TOKEN_CREATED\nTOKEN_REVOKED: TOKEN_REVOKED\nROLE_GRANTED: ROLE_GRANTED\nROLE_REVOKED: ROLE_REVOKED\nROTATION_NOTIFIED: ROTATION_NOTIFIED */,
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
CREATE TABLE IF NOT EXISTS "rotation_notification" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "event_id" CHAR(36) NOT NULL,
    "notifier" VARCHAR(64) NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "workspace_id" VARCHAR(63) NOT NULL,
    "secret_id" CHAR(36) NOT NULL,
    "payload" JSON NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PENDING: PENDING\nDELIVERED: DELIVERED\nABANDONED: ABANDONED */,
    "attempts" INT NOT NULL,
    "last_error" VARCHAR(255),
    "created_at" TIMESTAMP NOT NULL,
    "next_attempt_at" TIMESTAMP NOT NULL,
    "lease_until" TIMESTAMP,
    "delivered_at" TIMESTAMP,
    CONSTRAINT "uid_rotation_no_event_i_d694a8" UNIQUE ("event_id", "notifier")
);
CREATE INDEX IF NOT EXISTS "idx_rotation_no_status_1dba83" ON "rotation_notification" ("status", "next_attempt_at");
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
    "eJztXWtT4zgW/SuqfNnuKobi3T3s1lY5ien2AAnrmGaY8ZTLJIJ4MHLGVhqys/3fV5Llh/"
    "wIcUiCMeIDkSVdyz5Xlq6OpKu/Ww/eCLrB9pXn3wcTewhbx+DvFrIfaCCfuAVa9mSSJNEI"
    "bN+4LPejkO0mwL49xCTh1nYDSKJGMBj6zgQ7HiKxaOq6NNIbkowOukuipsj5awot7N1BPI"
    "Y+Sfj9DxLtoBF8gkF0Obm3bh3ojoQHdka0bBZv4dmExXXGtn/CctLibqyh504fUJJ7MsNj"
    "D8XZydPQ2DuIoG9jOEq9AH0+/rJRVPisJAL7Uxg/5CiJGMFbe+ri1AvfWElcy7J6fcMaqI"
    "ZltSpANPQQhddBOGDv/2A/WS5Ed3hMLo/2f4TlJDiEuWiB3xS981XRPxztf6QFekRHofZ6"
    "PGWPJf1gt7CxHd6EoZ7AzH4rAB3lXw3UUUSCdVLDNg723s7OAmiTXKVwszSKd4Lv0IcUD8"
    "vGeZS7JAU7D7AYaVEyg/eIi25HgbeIPnnBUR+5M/6JzQHf0M7VgaGcX9DiHoLgL5fhpxgq"
    "TdljsbNM7IejjJ7im4ArzfgK6CX4rd9TGbxegO98VmKSz/itRZ/JnmLPQt6jZY9SrUEUG6"
    "H2g7Zkt/epj4xG3NjD+0fbH1lCSlI9AkjUjIN83WhzwZNTHbo2gzZfC3ijPmA3eYM14EdU"
    "56PYpCYkEN2QhyM3eSFGuufCdninJgFF65i355XVunzSw95DNsZG9h17JVo2LUmsVgVWRF"
    "Lhyk2IIMmzUvvhd9E4YU/2R8aoSOWxQsvA9zCrINaI3I60qH9UsjsuL7VuBbtjOnVG21Rm"
    "PdZH61+3UzSkbwNYSfTfwb9b6616Ra0y6w/3w2Y23YCyV6+R2cERrMvHLFodu3ufF7A6SK"
    "5Sq4OliVZH+PGFMBWirKLpA0NaI49mo/BbEhDP3KLO9l5LudCsU/X6GPCAiYgRoLSVgWp1"
    "dLWr9gxNOTsGBZEm6iuXxlfL6J+qvWOQujDRYPA1vCsPmOiXK/oMRNo4BknYRGqvo19fGF"
    "q/FwqI1ya6UAaDq77ePQZRyEQdVTe0E61DrJVjkLow0ZXa/trvn8Ylidcm+qL2VF3rHAMe"
    "aC1R6/b3Fqh0+3uldY4miVVuGpBeJF/ZDPiEiz/pWKAJ3/Q821X91RDM1gjFD+fKrx8F0/"
    "Ws3/sSZU+h3jnrtzNoY7vIIPpl0O8Vgx3lzw4jnCEG/wOuE6zNfEz1VjdTx8UOCrZpea/R"
    "YVF85qsii3qmZ6M3yKriAWKb9nNV1JGWqYdKaLGNUUls7U081xnOlu0CC25T627wXOld0n"
    "4u/DUR6cz61v6O1VWuB6RvTF3xtCMh7UhI+1lI+1lI2/0sJEaXUYlHh0KR/LIe3ZRrB9hi"
    "il2KlCkQXwEz84Y6sxoRMREmOSamsCngA7+K+i4Ql/p+E/pGHnbIGy3zkZfdQ2q+zpp3As"
    "smRs33gkFI2/NcaKMSCictl1HxDRFcVwcf8TqbVWu73z8TNNrWssONy/O2qn/YZaokmRzM"
    "orWekZ3amPo+RNj6Dv2Ac68i7BoqGfoVSGaApxTnmnDfXRPo5GHJz097uwefDj7vHx18Jl"
    "nYU8Yxn+boJQ8vMzWqY5sVk8BmgZ1ANg2wBLYFkkvBW7NeYNUAQzT0Z+wpLDoTQUCrQvUW"
    "S9d54LXs5P7BIpP7B+WT+wdlk803M2saQN+qNpdRLP2CuY2aVfOXzGSkeM7J6AUYF0tLjO"
    "WiiXdosUcfQ3U1i5JSzbVWM4EA+95sKUVnZeUQvM6azq66WNTky8o10dhbyUrO3BqzAuzz"
    "wJ94PnTu0Cmc5eY7ihdLCauE3xjsZUulSLRvP8YLfnJ1jnK80IUh2aGTT0HXOmRgs8giPm"
    "zfWb73uJJVfIbdqPVp6daBj5pXAtO3ZATeFKjWv5SP1q3S1Xy84j23oM/CPN9zi/pafQQB"
    "+SrABPrgQyi8BYj0x2NgI8DQB7eeD/AY0mhw67gY+tvZacJl72MiExk8ik6mg2DsPSKAPT"
    "B0HUiUAZwAhK++TVdH/JPcgMSw16VJj76DMaQF0DubKCCgEUXZJBBOndtoBOATuXMAAo/k"
    "sTEvmjw3uJnRglkZ0UPCEfjTc8hTEVlIvoUZoCsAbuyAFEfqArRHwLsFNhg5tguH+KdgAo"
    "fOrTMEdIYbkLrrzxg4hWsik9WWVD/Pr4eMcy28BrLt3JXyYoW9dgEVxtvh+m6+CImwn/f2"
    "9vc/7e3sH30+PPj06fDzTsyI5ZPmUWNt7Qtlx4QuPaLLytdGSitq7fthhL67CsY8exOhXT"
    "kbyTuMagSZILTKddX16PaXIMbm2PxJq/9Cg79xO0iy1r5QrQRTv6MMOkpXnWfpr98yi8zZ"
    "UussZe8+a6GlZqdWvfUiqXBRIXlTIzVpcw9nFHJpaNTT0Kg+Afoq88pvaOZz6EzIt4LhU0"
    "Gj3HaQ7c9Kpi0EuewilBmGQaOIzTZfxxtzmsSKaGs9Rb8uXhPfLlj32742VCUD/6NPGkc4"
    "ski7Uw3/jKBUwJIKWGK6X87xV7OqeZ9aAeFEooEA7x0eLrJp//CwfNM+TcuMXOj67mKIF9"
    "g4FwlvDu2W0jG0b2qrGuJc6hiEvya6UHtdrfflGPCAiU4U7UztHoPwN0vNLaKf3aNFdjdm"
    "J61SmxuPpEeFdzmXKNcyrX+djWRoJEMjGZqFGBplOnLm+MIIk7cWYGfsOOe63GJwDAP41w"
    "ITQQLsTGQL5HOFU15CllRnKp1pbKLZLudxqE5yMM+j0bhAkyicjVBpco7uVeboXtVMaaTh"
    "l7Tny4xwE+k6V99WR1fJQIaMXnnAREqnow4GNCoKmehMG7BM4a+JLi+6oRQPmEjvG2EMD9"
    "CYMzIcttpK55TGxhcm6qpnKsvLAyQvGQn1dSbOQzTXwND712E+HjSRdn7R15lwFOJlUz8y"
    "3UuVPwC/MtGpem3Fz5a6iN7T6qo9LXlZfkmG+brW62gXypkVI5SLMhFzgpPkEC6jVF39Rn"
    "7jVH7J8FGtL7rS47AlVzwtFkxfpd6WqFU70WLM01HLkBDr8HZTfeuHHIeWNUfOhDIDJL1g"
    "beAcn6+CVBO8CK2bO2ZVkIxyUMGItBxnUap5OB/uLtI8kFylSLM0EeoRxLbjVvLRlBKRPo"
    "EEmnIVPoGC6XBY2MDMdQ6Qktqga4BXmhRcoWsAydG/B45+4sPv1tgOxlW6E0GozgOI2nTb"
    "VRGW4D4Dbo6wfx1mmZHGRI0O+gptkTgtzrE1j19mxLI1pJmtcZT72V0adIsEgo8wwHRTAs"
    "J0DwK0h2MQM1X/CAC7aX5nRgVZuhvjyif9hR8A1xveh5st6LaODwMyUu4YYHt7G5z0dT7s"
    "BsQOuQhbq8F/zj7SbRt0hQ4abYHAMxGpI9yHDNunQe9KBDwEk6IBsVod23X+S+Ic8h1MMb"
    "D57g76AGVbKTKEeSmzXS8C8F0dWSHp7o3T3bIHWmP3Ppn6pHuw8Nj3pndjq3L1LpbfXG3f"
    "aVRVz6BZ2botFt/gWrCdF/6ta8DfYEPugrz40JnYbpENlyTONd8mQrbaHLklZ+vf9NEXdb"
    "YU13LyhRNYwXRCIBk9OAUTnM95AhVlN0j5xTGS82se5ydPOpPHeKU+xPluUrB3D1/qJEWZ"
    "OAa9TZMwWqcBl65WBSZcptaVG3E+yWjdpHKueI2nYCQmHp+yyzzlftta7reltaPY8lvkLB"
    "K3/udwfdPUK1U/BuEvXfukdOl1+GuiK10z6HX4S48L6WpGX6cHhbAAiemeaz1yTX+yfLPc"
    "blSzprphZo04s8kb2oqLvLJycn+MXDhdGxeRgvXwwv1IAqv1xmBfdEtS9mMu3pVUWLtXgP"
    "C7d8L5yvu+4jFU0bx8anw1Z0Z+4lg4zrZOSvf3XF2V27Mk4VuHlmADlC/7xCpP1IlSjSPX"
    "1zBN7cNb56nSXGgs0cSqLEeacqS5gpEmfJo45G5LaF2UlCcj1HmlNDuVbRosf+ZsSlZqus"
    "6a9uF3YlksdeyoICm1XGctS35wM/5zJGW1DsrqdQgVoimdn6z8i3fTKqBVMjm25pEr1Kth"
    "fFDznzz3ejkW6tlvyp6ChHzJrtSCXSGaICpb5qDRvGQDh6mr5wE4bNX9kOYEGwj32tyRTk"
    "tcIyzmj3S6vIuETa0d0C97PeZ8lAdM1OmfX3BvKnGwni5J02duF34U89bYFAjLvRvL7d3w"
    "IXfknddAKfyCTGOAX5lH+8jSWc4Na7G0dH9TjHF1ykCUbCDx2yTOQB53/C7UfOsgJxgvpe"
    "eMqKQA66xn6Puen9ewAZ9KLI1YoAkutOZpUv3VEJSYc98knC0SZc/6dKrN7s6Ikup5mJ7H"
    "aeOSk7oK823N3y7A+SuUFVnxvgHmnoNbX2FZJCXvHDoZKiJSi0krhOHDBEuWa1MmYTnLlV"
    "bgolinZeQ8Q8bmjr+CHKBzFmalZOrMpdSGKrx3qjGyUf4Ggrt6F7RyJf17cUFeN7BX0wJP"
    "7Jnr2QWAlntITYls3kPq6wC6Hl+ob25CocWPJKtotbXyR5p11TPtm6pzH+1h0ERKW+l1yU"
    "CRekuPgvWYW+BGeIG2SinttIhktLOMNptvKRm8l/eaolQTRvAbmLiUK5qXafLfHBOWJQsq"
    "6rpAXCq81gp3oR1Aa4qwU7Au75nFzKKopLjrrOcRdJ3v0F+qBc/KSk3XTdM1odcV6DvDca"
    "tol22YsjV3j22SpzY+E9+LO50XmuTlbDdfDVXFPk+JNJDQWot1Tj+qCgjz7A1Ed3dnZ5FR"
    "+85O+bCdpmXGPh7ChQctldNbKRFJb1Wkt161M/vxf9GmkLY="
)
