from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # Every change to a secret or one of its versions, by any writer (another
    # replica, a DBA's UPDATE), is announced to every replica: their read
    # caches forget the secret at once (graphql_api/services/read_cache.py).
    # PostgreSQL folds identical payloads of one transaction into one.
    return """
        CREATE OR REPLACE FUNCTION strongroom_secret_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'secret' THEN
                PERFORM pg_notify('strongroom_secret', COALESCE(NEW."id", OLD."id")::text);
            ELSE
                PERFORM pg_notify('strongroom_secret', COALESCE(NEW."secret_id", OLD."secret_id")::text);
            END IF;
            RETURN NULL;
        END $$;
        CREATE OR REPLACE TRIGGER "secret_changed" AFTER UPDATE OR DELETE ON "secret"
            FOR EACH ROW EXECUTE FUNCTION strongroom_secret_changed();
        CREATE OR REPLACE TRIGGER "secret_version_changed" AFTER INSERT OR UPDATE OR DELETE ON "secret_version"
            FOR EACH ROW EXECUTE FUNCTION strongroom_secret_changed();"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TRIGGER IF EXISTS "secret_changed" ON "secret";
        DROP TRIGGER IF EXISTS "secret_version_changed" ON "secret_version";
        DROP FUNCTION IF EXISTS strongroom_secret_changed();"""


MODELS_STATE = (
"eJztXVtzozgW/isqv2x3VSaVe/dkt7YK23Q3k8TO2qQzPcMUg42SaIKFG3An3tn+7ysJcQ"
    "fHEOMQWnmIQdLh8h0hnZuO/u7MbBNa7u617dy7c2MKO6fg7w42ZvQgW7kDOsZ8HlXRAs+Y"
    "WKz1Q6LZxPUcY+qRihvDciEpMqE7ddDcQzYmpXhhWbTQnpKGCN9GRQuMvi6g7tm30LuDDq"
    "n4/Q9SjLAJH6EbnM7v9RsELTPxwMik92blurecs7LeneF8YC3p7Sb61LYWMxy1ni+9OxuH"
    "zcnT0NJbiKFjeNCMvQB9Pv6yQZH/rKTAcxYwfEgzKjDhjbGwvNgLT/SorKPrg6Gqj2VV1z"
    "slIJramMKLsOey958Zj7oF8a13R05PDr/794lw8FvRG36WRr1P0ujNyeFbekOb8Mjn3oDX"
    "HLCq7+wShmf4F2GoRzCz3xJAB+03A3VQEGEd9bCtg32wt7cG2qRVIdysjuId4Tt1IMVDN7"
    "wsyn1S46EZzEc6SZnC2+Sku8HBa0SfvKA5xNaSf2IrwFeVC3msSheX9HYz1/1qMfwkVaY1"
    "B6x0mSp9c5LiU3gRcK2onwA9Bb8NBzKD13a9W4fdMWqn/tahz2QsPFvH9oNumLHRICgNUP"
    "tOR7Kb+9hHRgsmxvT+wXBMPVETdQ8XEjZ7brZvdDnhh7MRtAwGbbYX8EF9zC7yCnvA96DP"
    "B6VRT4ggmpCHIxd5JkYj24Jd/0ptAor2MfvALup12arZwSxdYmDjlr0SvTe9U7Jb5UgRUY"
    "crFiHcqM1G5Yffk8IJe7I/UkJFrI3uSwaO7bEOopvkcmRE/aOU3HF1pfRLyB2LBTJ3KU09"
    "0kfnXzcLPKVvA9id6L+jf3fq7Xp5ozKbDw/9YTY+gLJXb5DYwRFsyseclDr2D96vIXWQVo"
    "VSB6tLSh3+x+fDlIuyjBczhrRCHs3A/reUQDx1iSbLex3pUtHP5C+ngB9omAgBUlcay3pv"
    "JPflgapI56cgp1DDQ+lK/aSrwzN5cApiJxoejz/5V+UHGv7lmj4DoVZPQXSsYXnQG325VJ"
    "XhwCdInmv4UhqPr4ej/ikIjjTck0eq8kHpEWnlFMRONHwtdz8Nh2fhnZLnGv4oD+SR0jsF"
    "/KBTodcdHqzR6Q4PCvscrUp2uYVLZpFsZ1Pho5f/SYcEbfimV8mu8q9qQmwNUHxzIf36Ni"
    "G6ng8HH4PmMdR758NuCm3PyBOIfhkPB/lgB+3TagSaeuB/wEJubeJjbLaaLJDlIezu0vu9"
    "xIRF8VnNijTqqZmNXiDNihn0DDrPlWFHnKYZLKG3bQ1LQmlvbltouqw6BeZcptHT4IU0uK"
    "LznP+rYTKZDfXDPb0vfRmTuTF2xutOEnUnibqfE3U/J+r23ycqg9PgjifHiVvy02ZMU5bh"
    "ejpjbCWjTA75Biwzr2gya5AhJsAkY4nJHQq44leS3znkgt+vgt/Y9hB5oyofedE1BOebzH"
    "nk6gYRar7lKCFd27aggQtMOHG6FIsnhLCuCT6w62yXrd3h8DzB0a6SVjeuLrry6M0+YyVp"
    "hDxWrAzUtGtj4TgQe/o36Ljc9pqEXcEFql8OZQp4auKsCff9mkAnD0t+fjrYP3p39P7w5O"
    "g9acKeMix5t4IvWXiZqFEe2zSZADYN7BwyN0AFbHMoK8HbsFlg0wBDPHWW7Cl06okgoJUx"
    "9eZTN1nxqurcP1rHuX9U7Nw/KnI2T5b6woWOXs6XkU/9DN9Gw7r5czwZMTvn3HwGxvnUAm"
    "MRNPEDSuzBx1CezUlKweZGs5lA4Dn2shKj07RCBW8yp9NRF+uKfGm6Ngp7G4nkzMSY5WCf"
    "Bf6D7UB0i8/gMuPvyA+WSkQJvzLYi0KlSLFjPIQBP5k+R2280IK+sWNEPoWR0iOKzTpBfJ"
    "5xqzv2w0ai+FSjVfFp8dGBa80bgelzpIG3Bar6Q/lo3yqM5uMd76mAPt3j7Z4K6usMMQTk"
    "qwBz6IA3PvEOINRvT4GBAUMf3NgO8O4gLQY3yPKgs5t2E1a9joY1rPIi6kwH7p39gIFng6"
    "mFIGEGQC7wX32XRkf8k1yAlLDXpVUPDvI8SG9Ar6xhl4BGGGWQA991bmATwEdyZRe4Nmlj"
    "ePzW5LnBZElvzO4RPCQ0wV82Ik9FaCH5FpaARgBMDJfcjvQFaJjAvgEGMJFhwan3kzuHU3"
    "SDpoB6uAHpu86SgZMbExlFW1L+PB0PGbZaOwayi24L7WK5s3aOKYyPw81dfOEbwn4+ODg8"
    "fHewd3jy/vjo3bvj93uhRSxbtco01lU+UutYYkoPzGXFsZFCiqp9PUxi7i6DMW/eRmg3bo"
    "3kE0Y5A1mCaJNx1c2Y9isYxlbI/NGo/0yBv3UrSNLSfqJbJUT9njTuSX15laRfv2QWiLOF"
    "0llM3n1SQot5pza99CLqcMFNsqJGzGlzD5cUciFoNFPQKO8AfRG/8ivyfE7RnHwrHnzMGZ"
    "S7CBvOssBtkaBLB6EsPei2yrDZ5XG8oU2TSBFdZSCNvuTHxHdz4n67X1RZSsH/4JDBEZo6"
    "GXfK4Z8iFAyoyIAK7n7h4y8nVfM5tQTCEUULAT44Pl5n0f7xcfGifVqX0lxofHc+xGssnA"
    "uIt4d2R+qpyme5Uw5xTnUK/F8NX8qDvjL4eAr4gYY/SMq53D8F/m/aNLcOf/ZP1lndmHZa"
    "xRY3noiMCj+kL1HEMtUfZyMsNMJCIyw0a1loevYCr8iF4VfvrGGdmYYtn/SgfbIfAHmsJe"
    "BZYgA0pncgNPODO5s8/w64h3OPOpxCdxJhyO0t0dSpuwxm/GkbuaqGqbtthm4d5q5134LQ"
    "q4UwGXC9HeDHaDE3mc9L6t7607/pnzuhz8zQMHXPkYf7hws82zMshiX1nNnc80fzBAHalD"
    "40+m/KX8YABTa5t/9QD+QFYPQ+u6AfxBCRy88I6OSyLjAcCLDt+dTQLPKsrZutrFk+mx8q"
    "g1nhop8VdsTCBT81mrH26sJ7i7bEmOUWV8E9TiWQXx/5ErnF6p8KpYWJVkyFfvU6U6ERtq"
    "wrQxQfVV34dY2YiIQEwkh2QLaVH/2RaBLTK0VeqW1oMMWTAeVJqRGJE7TJm7HlmaBZos9L"
    "s6DmcJUX1dhbaQOJxvMqxt6Iusndt9MbyZJKDbn8QMNSryePx7QoONLwuTJmjfxfDV9d9n"
    "0qfqDh0VD1S/gBLTk/l/t6V+qd0dLwRMN9+VxmbfkBaSuP1eGIkfMj2mqsjoZf/Hb8UMPK"
    "xeVwxIiDI35vmlKtfyXzB+BnGj6Tv+jhs8VOgvfU+/JAiV6Wn2r4cqQMesqldK6HCGWKNM"
    "zywUUtEqdB7Uj+TH7DWn7K8JH1jyNpwGGLznhdSBg/i70tYavyQQkxjxdVscfXkfit/CpI"
    "YZItGo7QnBrJSX1OmPyK9OcJqjYk1Kvbjcq6INFycI5xthjnJFX7cD7eX2d4IK0KkWZ1Sa"
    "hN6BnIKpWuMEYi0uMlPHabSI/nLqbT3AFmZZ6cGNUWs+S8UHzMBrPkCHf1j+Cunjvwm35n"
    "uHdlppMEUZMViMZM22URFuA+AW5DLMvMaEzYiPAnaCQNp/ktdlbZl5lhWZ/Sxvpd0PpJdy"
    "tdLYjhA3Q96smkPsWblG/0Hy5gF80uUixBSxcmXjtkvnBcYNnTe3/dIfVzvhkTTbmngt3d"
    "XfBhOOJqN/WsXvqj1fg/52/pCkYarIpN6kPVMOkjPJ0aW7JIr0oIqOs0cukSqRUZFvWcPi"
    "DyHSw8YPCFjvQBhO+z4eY/Ye5ukLlbzEA1Tu/zhUOmB927c+zF7Z1eunvn0wtPc7WunkKz"
    "tHSbT77FsOi9Z/7VpfDXLiUTmUefGdNS41SMZossykLcYFxZjy4LbIJIINtU1QNO7+c2yo"
    "/xTDdZS/lItH5S+ZCAi24xNAFbPjKj4rzWoeGMTGmg6gRTE2JhmoZJAyPJfQgN/Mok+4xa"
    "spGrapiNDXT8plGYkVlKI/ebLyYWcmnzOVEybBNNDctasqhPooaYkMBuMpVHptpQhAogMN"
    "js6VyWuYWaQpC9YEGfRFWiFYa3cCAPFIXRjYjKE17FpZlfZjQINHofiBxAM7286Vn2wlRJ"
    "H7bIBU10S5WzG2Tx4E+W1IWx7+0u6PGUMPcQzpnuRJ//G3mhmyWwyNs6fqwqSzFDL0jwRJ"
    "bFkXIB8tbUoVaEJon10Y1bH90sxbZZon8NkS1Cld22KhsM66XlRKHUVsjKLTxArfYAiYXZ"
    "dWtfXETUQ+GwrK8tS92+EI569pOtgvjzgW52D98Y0g1RhMfQISrPGVx2ctd2BJU7q1d20G"
    "ZBHpXNrutY1x9VbhBuqe9pU3GexdqRyPUicr20INfLC+eMahriL5A0SuhHVbjxKvSjhkg2"
    "lwTkKZobVp5kE1WulGzmiWaNEWzEEtJNLyFlvyWm3KB960TIWjRJRBTwxZxAYs5Qzqq7p3"
    "ZqTdJuMQ49LBGB6O2bZjs0w8wQW8tOuG3Ja5h2+dDwnFk3ps4htrfpM3dnGZHPt+tf6RX2"
    "g+9Bz1+1jY1nEx32mTBJc6TSy7QJozoFuHi3yhHhUr2uWIhzSEN9Emu54cQjCSEx2pErnX"
    "tE+Psb6e+nvSNf8ns6EUBA22SzS+ezIl/Lo1Pg/9IF+VKfnvu/Gr4eKSo99381LF31FXVI"
    "CvgBKelfKANyTn86VWRKkQ5WiDUVxZqkL5APtCUzD6TpRP5Skc2nMVt4JqSHJPCl88UmrF"
    "qvDPYiEXMnlTI2/THnZ43N7d0bQPiH3yT1hfPyhjpUXsB2TL9aEak9R7oXNqvTpPt7pq/G"
    "cwbSHIJzgy7hLL9bkrD/tsv+26gZrxYLMPviSoedJqlaZ2uvJVruBj2WgTiiaGNXFoqnUD"
    "w3oHjCxzkiV6vA9STlBrjesDDUV8LktWK5LcP16MYxVb7uNK3gdJM57cBvRLKowuckpeBy"
    "k7k8sW2Pvts8x72yKuIgQffS0QZl1dIXiTKI9NgM0iussnEikRE2LcgLU/c2tuoS1te6ra"
    "/+Z74BeEuETzRzSHga3PiIWNbqGtNR75BlOjAv0K6eaJVXAnetwSqkH49sj2H6iz3p5Jin"
    "Uy12Vhmp6YoOhzfW/+Kt67VV02QhC/YU5MgRO9s0wixNOEFYpldYdZWlbKF9b/MGVA5b+T"
    "VYGcIWwl3bttuLgn0P1tt3e1F9/4NtxWCNrgYDtsk2P9Bwb3hxybdKCQ+bufU2M219g45L"
    "56KysYo5xCIxY7XELQ7kiw+zHCiEP0HTGuAP9o/eHb0/PDkK8Q5LVsGchTSQdKptN55PLS"
    "wZ+RiXt7UmKVvoMWuTsdXf+LkKm5OUgs2NZvMNwiwfYwU+p0iF76TJfIaOYztZDqvwsUDS"
    "CAnakFxpFSflX9UEEzN7MyXSIQTN0xs2NSb/T2CSGtgeukFTg0OVs9oqp93O6mVX3H6F0y"
    "QbXn/F9t7g0pd/L1KT3fk5UhUx6cVkFPLgbO4JK9e2RMJiK1ecgetiHacRTq6UzB1+BRlA"
    "V0S0xmiabEtpjKnwHpWzyAbtWwju5veXFSuSfpT9xZsG9obiN4ylZRs5gBZvfxoj2f72py"
    "8DaD0bnb46h0LnUh70lcHHklJbQHYK+AHbfl35LI/4Buz+oYalrjToE0WRboUeHDbDt8CF"
    "8BxuFZq04yTCop22aDN/S4HyXjxrJqnaoMFvwXEploJUGfJfnSUsbSwoyesccsHwRjPcgo"
    "YL9QX2UE5Q6BOrQJKkwsTdZD6b0ELfoFNpBE/TCk43jdMNMa9L0EHTu05etgK/ZmdlroKo"
    "TWNyz/4oacmeKZIXW7t5NFQZ+TxG0kKDVi3SOf2oSiDMm7cQ3f29vXW09r29YrWd1qV0Hx"
    "t7uas6is1bMRJh3ipp3nrRyez7/wGZwRkr"
)
