from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # secret_count is kept by insert statement, not by inserted row. Why: the
    # row trigger upserted the workspace's one counter row once per secret,
    # and 10,000 updates of one row in one transaction walk an ever longer
    # chain of its versions: an importSecrets of 10,000 lines spent 0.8 of its
    # 2.0 s there (measured with the trigger disabled). Updates and deletes
    # (rare, and row by row anyway) keep the row trigger.
    return """
        CREATE OR REPLACE FUNCTION strongroom_secret_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO "secret_count" ("workspace_id", "active", "inactive")
                SELECT "workspace_id",
                       COUNT(*) FILTER (WHERE "destroyed_at" IS NULL AND "is_active"),
                       COUNT(*) FILTER (WHERE "destroyed_at" IS NULL AND NOT "is_active")
                FROM inserted GROUP BY "workspace_id"
                ON CONFLICT ("workspace_id") DO UPDATE SET
                    "active" = "secret_count"."active" + EXCLUDED."active",
                    "inactive" = "secret_count"."inactive" + EXCLUDED."inactive";
            RETURN NULL;
        END $$;
        CREATE OR REPLACE TRIGGER "secret_count_change" AFTER DELETE OR UPDATE OF "is_active", "destroyed_at", "workspace_id"
            ON "secret" FOR EACH ROW EXECUTE FUNCTION strongroom_secret_count();
        CREATE OR REPLACE TRIGGER "secret_count_insert" AFTER INSERT ON "secret"
            REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION strongroom_secret_count_inserted();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "secret_count_insert" ON "secret";
        DROP FUNCTION IF EXISTS strongroom_secret_count_inserted();
        CREATE OR REPLACE TRIGGER "secret_count_change" AFTER INSERT OR DELETE OR UPDATE OF "is_active", "destroyed_at", "workspace_id"
            ON "secret" FOR EACH ROW EXECUTE FUNCTION strongroom_secret_count();"""


MODELS_STATE = (
"eJztXetzmzoW/1c0/nKbGd9MXk3b7M7O+EFb36Z21naa2y13KDFyrA0WFHBT727/9z1HiK"
    "fBMY6dEJd+aEDSEeJ3hHReOv5vbWoZ1HT3ryzn1rX1Ea2dkf/WuD7Fi8XKOqnpth1VYYGn"
    "X5ui9V2i2bXrOfrIg4qxbroUigzqjhxme8ziUMpnpomF1ggaMn4TFc04+zajmmfdUG9CHa"
    "j48hcUM27QH9QNbu1bbcyoaSQGzAx8tijXvLktyloT3XkrWuLjrrWRZc6mPGptz72JxcPm"
    "MBosvaGcOrpHjdgL4PjkywZF/lihwHNmNBykERUYdKzPTC/2wtdaVFbTtG5vqA2UoabVCk"
    "A0sjjCy7jnivef6j80k/IbbwK3p8c//edEOPit8IGfGv3W+0b/xenxHj7QAh753OvKmiNR"
    "9VN0oXu634lAPYJZ/C0AdNB+M1AHBRHW0Qx7dLCPDg5WQBta5cIt6hDvCN+RQxEPTfcWUW"
    "5DjcemNBvpJGUKb0OS7gcXzxF9eEGjx825/MSWgD/sfFQGw8bHC3zc1HW/mQK/xlDBmiNR"
    "Ok+VvjhN8SnshFx1hu8J3pJ/9bqKgNdyvRtHPDFqN/xXDcekzzxL49adphux1SAoDVD7iS"
    "vZ+Db2kWHBtT66vdMdQ0vURNPDpcBmz12cG01J+PZDn5q6gHZxFshFfSA6eYYz4Gcw54PS"
    "aCZEEF3D4KCTB2LUt0za9HvaJaBwjllHVt6sW6yaHk3TJTrXb8Qr4bPxSclplSFFRBMuX4"
    "RwozYblR++JIUTMbK/UkJFrI3mSwaO5YkJohnQHayofxWSOy4vO+0Ccsdsxox9pNmO9FH7"
    "+3jGR/g2RDwJ/zv5R227Uy9rVRb74bG/zMYXUPHqJRI7JIJl+ZiTUsfh0esVpA5olSt1iL"
    "qk1OF/fD5MmSgrfDYVSHdgaDr3v6UE4qkuyizv1RoXHe2D8vmMyAuVgxDQaDYGitbqK22l"
    "O+w0zs9IRqHKe43L4Xtt2PugdM9I7Eblg8F7v1d5ofI/rnAMQD08I9G1ypVuq//5YtjpdX"
    "2C5L3KLxqDwVWv3z4jwZXKW0p/2HnbaYG0ckZiNyq/Uprve70P4ZOS9yp/p3SVfqd1RuRF"
    "bY1Zd3y0wqQ7Psqdc1iVnHIzF3aRxck2pD+87E86JNiFb3qZ7Kr8OUyIrQGKLz42/txLiK"
    "7nve67oHkM9dZ5r5lC29OzBKI/Br1uNthB+7QawUYe+R8xmbs18TG2W13PmOkx7u7j855i"
    "w0J8lrMijXpqZ8MO0qyYUk/Hfa4IO+I05WAJPnZnWBJKe7ZlstF83S0wo5tSb4MfG91L3O"
    "f8vyqHzaynHR9o7cbnAeyNsTtZd5qoO03UvUnUvUnUHb5OVAa3wRNPXyYeKW/LsU2Zuutp"
    "grFrGWUyyDdgmXlGm1mJDDEBJguWmMylQCp+BfmdQV7x+1nwm1segzda5yPP66PifJk5z1"
    "xNB6Hme4YS0rQsk+o8x4QTp0ux+BoIt7XBB3adx2Vrs9c7T3C02UmrG5cfm0r/xaFgJTRi"
    "nijudIdp18bMcSj3tO/UcaXtNQl7h+eofhmUKeDRxLkl3A+3BDoMFv78fnR48urk9fHpyW"
    "toIkYZlrxawpdFeIWoURzbNFkFbBpYmwo3wBrYZlCuBW/JdoFNA0z5yJmLUWjoiQDQiph6"
    "s6nLrHit69w/WcW5f5Lv3D/JczZfz7WZSx2tmC8jm/oBvo2STfOHeDJidk7beADG2dQVxl"
    "XQxC8osQcfQ3E2JykrNpeazQCB51jztRidpq1U8DJzOh11sarIl6bbRWFvI5GcCzFmGdgv"
    "Av/Wcii74R/ofMHfkR0slYgSfmaw54VKQbGj34UBPwtzDm281KS+saMPn0K/0wLFZpUgPk"
    "+/0RzrbiNRfEN9p+LT4quD1Jo3AtOnSAPfFai2H8qHcys3mk9OvPsC+jRPtrsvqK/W45TA"
    "V0Fs6pAXPnGdAPXeGdE5EeiTseUQb0KxmIyZ6VFnP+0mXLcflat8KIvQmU7ciXXHiWeRkc"
    "koMIMwl/ivvo/REX+DDqBEvC5W3TnM8yg+AHtWuQugAaN0uPBd5zo3CP0BPbvEtaCN7slH"
    "w7jJ9RwfLJ4RDJIa5N8Wg1EBLYVvYU4wAuBad+FxMBeobhBrTHRiMN2kI+9316YjNmYjgh"
    "5uAnPXmQtwMmMio2hL5M/98ZBhq5VjIJvsJtculrlrZ5jC5Dpc3sMXviHszdHR8fGro4Pj"
    "09cvT169evn6ILSILVYtM401O+/QOpbY0gNzWX5sZCVFbf08TGLvLoKxbL6L0G7cGik3jG"
    "IGsgTRJuOqy7Htr2EYWyLzR6v+AwX+nTtBkpb2E9MqIeq3GoNWo60sk/S3L5kF4myudBaT"
    "d++V0GLeqU0fvYgmXPCQRVEj5rS5pXOEvBI0yiloFHeAPolf+Rl5PkfMhm/Foz8yFuUm47"
    "ozz3FbJOjSQShzj7o7Zdhsyjje0KYJUkSz0230P2fHxDcz4n6bn4dKIwX/nQOLIzU0WHeK"
    "4Z8irBiwJgPWcPdXPv5iUrXcUwsgHFHsIMBHL1+ucmj/5cv8Q/tYl9JcML47G+IVDs4FxI"
    "+Hdq3RGnY+KbViiEuqM+L/VfmF0m13uu/OiLxQ+dtG51xpnxH/b9o0twp/Dk9XOd2YdlrF"
    "DjeeVhkVfklfYhXLtP04m8pCU1loKgvNShaaljXjS3Jh+NX1Fawzo7DlvR6099YdgWHNic"
    "wSQ6g+mpDQzE8mFoy/Tm6p7aHDKXQnAUNubkBTR3cZXfCnbaRXlaO7bcpuHOGudfdI6NVi"
    "HBZcr078GC3hJvN5ie6tr/5Dv9ZDn5mucnTPweB+c4lnebopsETPmSU9f5gniGBTHDT7T8"
    "pfJgAlFjzbH9QdvACN3meftIMYIuh+CqBDty7RHUq45fnU1MjzrK2araxcPptfKoNZ7qGf"
    "JXbE3AM/WzRjHWwL70e0JcYst3wd3ONUFfKrI18gt9j2t8LGzGBLtkK/epWtUA9bbitDlF"
    "xVXfpthZgIP64jbF8nX+IaY5Ux6jF0k/xlHnlSaK2RBLvkp3jkNb5cQs1Ts2DLgShPqovv"
    "pHUjWs/XMeNG1GWevrVWX2kM0UQrL1TeaLWUwQCLgiuVn3cGopH/V+WXF22fSl6ovN8b+i"
    "XyAkvOz5W21my0PmBpeKPytnKuiLbyAtoqg2GvL8jlFbYaDPu9z347eanyzseLXl8QB1fy"
    "2ZgsrX2pyAHIO5V/UD5r4dhiN8F7am2l24leVt6q/KLf6bY6F41zLURooUjlItNb1CJxG9"
    "T2lU/wN6yVtwIfRXvXb3QlbNGdrAsJ43extwW2dt52QszjRSr/1FGusMr/q/JW7+NFQyAc"
    "XK1jjd9G2rfiZyArg2zeksVsNJFDfUaQ/JLk5wmqXUint20nqpiCoOPwDNNsPs5Jqt3D+e"
    "XhKssDtMpFWtQloTaopzOzULLCGEmVHC/hr9tEcjx3NhplLjBLs+TEqB4xR84TRcdsMEdO"
    "5az+FZzVtkO/axPdnRTZThJEZVYySrNtF0W4AvcecEtiVxYmY2Aj4++pnjSuZreoL7MuC7"
    "OyNsLG2iRofa+zFc8KcnpHXQ/9mOhRHKc8o7+5RHS6eESxAC0eS7xyYL9wXGJao1v/1CF6"
    "OV8MQJtuDcn+/j552+tL1Rz9qhf+ajX45/kenl/EUFVuoAdV5TBHZDI1cWARewUCdJxGDl"
    "2QWpluot/0jsF3MPOILo854gAqz2fJTYSVSbxEJvFqB9ri9m7PHNgeNG/iWLObiVZ4emfT"
    "V37m9aZ6Cs3C0m02+SMGRR888N+2FP6tS8kg82hTfVRonYrRPCKLFiEuMa5iRhcFNkFUIZ"
    "uNrHyT9Vf+nA6ecOk/eA7LfbnUPzq6tS2WHWWbblJfRQFMtL5XAWwQl91wahBxgGeKKpVa"
    "w4BSobihSidUtVigrG5gaCo8B2joN6FdLaiGG+lV5WJ9xj0U42Aj06AKz7Nn1yZzsbkNip"
    "5lsJFumnMRdwuqoEEBdkOonQpqpBEqBGCwxOhckTsHzVHMmomwW1BXsUL3Zg6Vobo0ehCo"
    "nWEvLubemWIYbvQ+lDkEc+28aJnWzBjCzDahQ4PdoII8ZqYMvxVpdQT79vZJSybluaXUFv"
    "orjv87vNB4Tkx4W8ePFhZJfrBDwJOZpkTKJcxbUY9dEhxWnVAv3Qn1chkXyqV+bSECqTIn"
    "PLY5IVjWC8vqlWFhjbzolRdup71w1dH4bWvAUkTUQuGwqL9zkXr3wmi284u+6yD+cKDLPc"
    "M3hnSZFGH/FE0H8a3lacLxNvX7VeEgTDxsf68yfDVhoCwKZ6ZL0MlIHU7uRKHf2ZmvElLn"
    "d/9eJmL19T9fRasvKMMb6VXl/tFUOoFKUY4CUfxMKFwyg8rjqL631Pe7TuaxnLHRaVT/IN"
    "JXPO0qH2vPgnOxPjko19KxK7PB+l3YwEbxQGiNCm+QnRYUZp1c6x7QoyfYf18gPTo4CE/d"
    "vgAlV+XXM/NWnG+tC6WXTW0Lz84C9cydkxvHmtkA1HTKvD1QoB2PoVXAmlLRVTQIV+WoLz"
    "MBK7Ymd44lD9+O3TkALZACPd00z4RJwVen/R4Mx8LsR3U8iwv9BtiHYyN3+Opjx5qSo5P9"
    "Q/RBH77Zf0Om8BaDf54zDybQ16l+S4EpfDT5ugdoK/5Lo54fQsgQIVhGYDjEcgzQ6S1uzu"
    "tilMIK4g8HLsag26OdQTxTDJxxMZ46QQ+2CxSuOBFMUOwiL24c3Z58MzXdZvsudb6zEXX3"
    "/bkv+tyDWXM3oTAYcfJZcsSdiOFJlvzmCij3SSM+AfH90fgAb+fCVNU94L0bJvTV5Qwc07"
    "ugU32MxoqvGRZJOcF8APYxOzETCYKhf/YdOkMt+My3ebCROFbtW2vQukH0Gx1neOw7ELNM"
    "5Rg64J+vNoh4Q+DOBKe/zuWcFSDG3hIe61l4UBttNzOee/b5S/J4yWqH6CprylNrl8viBa"
    "p0HxsO2K8MVJWBateWkJIIwwPYx6nzgc6zpOCocqn464pmQVrHzR4zXzVArtjCsKPBcJs6"
    "eJa/uVWpJ6vUkzuQevKJU9iWDfFlG9iWcthWzoJ1uPEsnAUlkWwuAOQRs3UzS7KJKpdKNn"
    "aiWWkEmyrvzabz3oi/BbbcoP3OiZBbcaswV3NnNkBiTFlGqpClR2IXaB/xYGxYUp2M3b1t"
    "toZG5x4357XwVxSfw7Yrl4aH7LoxdQ6wB4we+GORffh8m35Pz3Ae/Axm/rJf1fQs0GEfCF"
    "PDZkPsZpcw2qYAF59WGSJcatblC3EONNSuYy03nAcxISRGPxCc9uJU7ppSumtwdmRLfvdn"
    "Lwtoy2x2qYncVn2Z46qPWcQabbz3/6r8qt8Z4r3/V+WNy3Zn2IMCeQEl7Y+dLtzjn3S0wU"
    "oyZfXrFJVYs6ZYkwyMkwttQedqmq7yr1b+1cf1ry4I5xmTehH4wj9fkbBqPTPY80TMeuoX"
    "LNIfc/aPWGTO7g0gfBXva0cRTn/VZfqZkFCHyorZjOlXS2I1baZ5YbNtmnS/LMzVeKJzTH"
    "xu65hTpviPt1b2392y/5Zqx9uKBVh8cYXPYCWpds7WvpWjI2P2owjEEcUuTuVK8awUzw0o"
    "nvSHzaC3NbiepNwA10t2JuuZMHmlg42m7nr4O5brfN1p2orTZea0Q7+DZLEOn5OUFZfLzO"
    "Vry/Lw3ewM98qyiIME3VNHGxRVS58kyiDSYxeQXmKVjRNVP1GRFuQrU/dj/HJwZX3dtvXV"
    "/8w3AG+B8IlyLgn3gxtfEYtaXWM66oSZhkOzAu22E63yTODearAKzOO+5QlM/7Cuaxnm6V"
    "SL+jIjNZ7ocGRj7d+y9XZt1Zg5byZGAVdO9XOcpTBLAyeAZdoap64WKXfQvrd5A6qErfgZ"
    "rAXCHYR7K0exonVnnQisiLrMeNf6l91up/vujMgL/5cG5e87hpcqf9vonGOR/7e2Bo82b/"
    "IWpq3v1HFxLyoaq5hBXGWKXy+LoUPl4cNFDuTCn6DZGeCPDk9enbw+Pj0J8Q5LlsG8CGkg"
    "6VzPtTV+YTOburJkZGNc3NaapNxBj9kuGVtntrGmYzRJWbG51GweMy6Sk6/B5xRp5TspM5"
    "+p41jOIoeH9EeOpBES7EKm0WWcVP4cJpi48GOxiXQIQfP0L8iWJv9PYJLqWl6YEK+Wedoq"
    "o119+bErab/iaZINn78S+fek9OU/C2oWc+hFqiKHWQyrkEentldZuR5LJMy3csUZuCrWcZ"
    "rKyZWSucOvYAHQJRGtMZoy21JKYyq8ZcUsskH7HQR3U3nHqhNJq8zkLWR8rDKWbjp+Q5+b"
    "lp4B6B+DXjcvHiYkSetGbOSR/xGTuc8xpeYSQBGM5cJ0Wm5OIY8dNJ+9Q6F2oXTbne67gl"
    "JbQHZG5IXK28p555PSRxdCeKnyRrPRbYOiCKXhZTl8C1IIz+BWrkk7TlJZtNMWbeFvyVHe"
    "83fNJNUuaPCP4LisjoKss+Q/O0tY2lhQkNcZ5BXDS81wk+ou1WbcYxlBofecAkmSVibuMv"
    "PZoCb7Tp21VvA0bcXpsnG6JOb1BnXYaFLLylbg19SX5iqI2pQm9+yvkpbsgSJ5vrVbRkMV"
    "kc9jJDto0NqKdI4fVQGEZfMdRPfw4GAVrf3gIF9tx7qU7mNxL/NUR755K0ZSmbcKmreedD"
    "P7+X/MqTkH"
)
