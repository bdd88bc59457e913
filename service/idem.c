/* idem: Idempotency-Key answers in the database (see idem.h). */
#include "idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void idem_principal(char out[IDEM_PRINCIPAL_LEN], const principal *p)
{
    if (p->kind == PRINCIPAL_ADMIN)
        snprintf(out, IDEM_PRINCIPAL_LEN, "admin");
    else if (p->kind == PRINCIPAL_DEVICE)
        snprintf(out, IDEM_PRINCIPAL_LEN, "device:%s", p->device_id);
    else
        snprintf(out, IDEM_PRINCIPAL_LEN, "installation:%lld", (long long)p->installation_id);
}

void idem_hash_init(crypto_generichash_state *st, const svc *s)
{
    unsigned char key[32];
    crypto_kdf_derive_from_key(key, sizeof key, 3, "assetidm", s->token_key);
    crypto_generichash_init(st, key, sizeof key, IDEM_HASH_LEN);
    sodium_memzero(key, sizeof key);
}

void idem_hash_part(crypto_generichash_state *st, const void *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    if (n)
        crypto_generichash_update(st, p, n);
}

void idem_hash_final(crypto_generichash_state *st, unsigned char out[IDEM_HASH_LEN])
{
    crypto_generichash_final(st, out, IDEM_HASH_LEN);
}

asset_err idem_begin(svc *s, const char *who, const char *key,
                     const unsigned char hash[IDEM_HASH_LEN], idem_state *state, idem_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    *state = IDEM_IN_FLIGHT;
    /* A key abandoned between our claim and our read is claimed again (bounded). */
    for (int attempt = 0; attempt < 3; attempt++) {
        bool claimed = false, found = false, answered = false, same = false;
        asset_err e = store_idem_claim(s->pool, who, key, hash, &claimed);
        if (e != ASSET_OK)
            return e;
        if (claimed) {
            *state = IDEM_CLAIMED;
            return ASSET_OK;
        }
        e = store_idem_lookup(s->pool, who, key, hash, &found, &answered, &same, ans);
        if (e != ASSET_OK)
            return e;
        if (!found)
            continue;
        /* No answer yet to compare with: in flight. */
        *state = !answered ? IDEM_IN_FLIGHT : !same ? IDEM_MISMATCH : IDEM_REPLAY;
        return ASSET_OK;
    }
    return ASSET_OK; /* keeps changing hands: in flight */
}

asset_err idem_complete(svc *s, const char *who, const char *key, const idem_answer *ans)
{
    return store_idem_complete(s->pool, who, key, ans);
}

asset_err idem_abandon(svc *s, const char *who, const char *key)
{
    return store_idem_abandon(s->pool, who, key);
}
