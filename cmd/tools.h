/* tools: the small operator and test commands of the assetd binary. */
#ifndef ASSETD_TOOLS_H
#define ASSETD_TOOLS_H

/* assetd rotate-key: re-wraps every stored key under the active ASSETD_MASTER_KEY version. */
int tool_rotate_key(void);
/* assetd sign-challenge keygen: prints a test key pair. assetd sign-challenge --key <base64
 * secret key or seed> --challenge <b64> --app <appId>: prints the base64 authToken (Ed25519
 * signature over challenge || appId). */
int tool_sign_challenge(int argc, char **argv);

#endif
