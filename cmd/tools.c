#include "tools.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "../service/config.h"
#include "../service/log.h"
#include "../service/store/db.h"
#include "../service/rotate.h"

int tool_rotate_key(void)
{
    config cfg;
    char err[512];
    if (config_load(&cfg, CONFIG_NEED_MASTER_KEY, err, sizeof err) != 0) {
        log_error(err);
        return 2;
    }
    int rc = 1;
    db_set_transaction_pooler(cfg.db_transaction_pooler);
    if (db_migrate(cfg.database_url, cfg.migrations_dir) >= 0) {
        long n = rotate_rewrap_all(&cfg);
        if (n >= 0) {
            printf("{\"rewrapped\":%ld,\"keyVersion\":%d}\n", n, keyring_current_version(cfg.keys));
            rc = 0;
        }
    }
    config_free(&cfg);
    return rc;
}

static int decode32(unsigned char out[32], const char *b64)
{
    size_t len = 0;
    const char *end = NULL;
    return sodium_base642bin(out, 32, b64, strlen(b64), NULL, &len, &end,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
                   *end == 0 && len == 32
               ? 0
               : -1;
}

int tool_sign_challenge(int argc, char **argv)
{
    const char *key = NULL, *challenge = NULL, *app = NULL;
    unsigned char seed[32], pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char b64[128];
    if (argc == 1 && strcmp(argv[0], "keygen") == 0) {
        char pk64[64], seed64[64];
        randombytes_buf(seed, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_bin2base64(pk64, sizeof pk64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
        sodium_bin2base64(seed64, sizeof seed64, seed, sizeof seed, sodium_base64_VARIANT_ORIGINAL);
        printf("{\"userAuthPublicKey\":\"%s\",\"privateKey\":\"%s\"}\n", pk64, seed64);
        sodium_memzero(seed, sizeof seed);
        sodium_memzero(sk, sizeof sk);
        return 0;
    }
    for (int i = 0; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--key") == 0)
            key = argv[i + 1];
        else if (strcmp(argv[i], "--challenge") == 0)
            challenge = argv[i + 1];
        else if (strcmp(argv[i], "--app") == 0)
            app = argv[i + 1];
    }
    unsigned char ch[32], sig[crypto_sign_BYTES];
    if (!key || !challenge || !app || decode32(seed, key) != 0 || decode32(ch, challenge) != 0) {
        fprintf(stderr, "usage: assetd sign-challenge keygen\n"
                        "       assetd sign-challenge --key <base64 private key> "
                        "--challenge <base64 challenge> --app <appId>\n");
        return 2;
    }
    size_t app_len = strlen(app);
    unsigned char msg[32 + 256];
    if (app_len > 256) {
        fprintf(stderr, "assetd: appId too long\n");
        return 2;
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    memcpy(msg, ch, 32);
    memcpy(msg + 32, app, app_len);
    crypto_sign_detached(sig, NULL, msg, 32 + app_len, sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    printf("%s\n", b64);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    return 0;
}
