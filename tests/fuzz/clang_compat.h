/* Stop-gap for building service/asset_req.c with clang (the fuzz build only): its field table
 * initialises the label names with `label_names[i]`, an element of a static const array, which
 * GCC folds as an extension but clang (and ISO C11) refuses as "not a compile-time constant".
 * tests/fuzz/Makefile compiles a copy of service/asset_req.c in which that expression reads
 * FUZZ_LABEL_NAME(i) instead. Once service/asset_req.c uses constant expressions there, the
 * rewrite matches nothing and this header goes unused. The names must match label_names[]. */
#define FUZZ_LABEL_NAME(i) FUZZ_LABEL_NAME_##i
#define FUZZ_LABEL_NAME_0 "dataLabelCritical1"
#define FUZZ_LABEL_NAME_1 "dataLabelCritical2"
#define FUZZ_LABEL_NAME_2 "dataLabelCritical3"
#define FUZZ_LABEL_NAME_3 "dataLabelCritical4"
#define FUZZ_LABEL_NAME_4 "dataLabelNormal1"
#define FUZZ_LABEL_NAME_5 "dataLabelNormal2"
#define FUZZ_LABEL_NAME_6 "dataLabelNormal3"
#define FUZZ_LABEL_NAME_7 "dataLabelNormal4"
#define FUZZ_LABEL_NAME_8 "dataLabelNormalLocal1"
#define FUZZ_LABEL_NAME_9 "dataLabelNormalLocal2"
#define FUZZ_LABEL_NAME_10 "dataLabelNormalLocal3"
#define FUZZ_LABEL_NAME_11 "dataLabelNormalLocal4"
