/* export.h — molecule sets as text files other tools read: XYZ (one block
 * per molecule) and SDF (MDL V2000 atom blocks). Positions in Å. Written
 * atomically (common/base/atomic_file.h). */
#ifndef ELIGN_EXPORT_H
#define ELIGN_EXPORT_H

#include "common/base/error.h"
#include "common/chem/molset.h"

/* XYZ: "<n>\nmolecule=<m> formula=<Hill formula>\n" then one "Sym x y z" line per atom. */
elign_status elign_export_xyz(const char *path, const elign_molset *s, elign_error *err);
/* SDF: V2000 records without a bond block (bonds are a chemistry decision
 * left to the metrics code; tools that need them can perceive them). At most
 * 999 atoms per molecule (ELIGN_ERR_UNSUPPORTED beyond). */
elign_status elign_export_sdf(const char *path, const elign_molset *s, elign_error *err);
/* The molecules of a samples file (dataset_io.h) as XYZ and/or SDF (either path may be NULL). */
elign_status elign_export_samples(const char *samples, const char *xyz, const char *sdf, elign_error *err);

#endif
