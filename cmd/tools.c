#include "tools.h"
#include <stdio.h>
int tool_rotate_key(void) { fprintf(stderr, "not yet\n"); return 1; }
int tool_sign_challenge(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
