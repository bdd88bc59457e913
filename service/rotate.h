/* rotate: master key rotation. With ASSETD_MASTER_KEY listing the old and the new version
 * ("1:<old>,2:<new>"), every instance unwraps with either and wraps with the newest; this
 * re-wraps every stored key (device data keys, service keys, backup transport keys) still under
 * an older version. Each row is re-wrapped in its own statement guarded by its old version, so a
 * crashed run is simply run again. */
#ifndef ASSETD_ROTATE_H
#define ASSETD_ROTATE_H

#include "config.h"

/* Returns the number of keys re-wrapped, or -1 (reason on stderr). */
WUR long rotate_rewrap_all(const config *cfg);

#endif
