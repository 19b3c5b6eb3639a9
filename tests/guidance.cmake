# Run-time oracle guidance of the sampler and diffusion relaxation (owner: guide):
# the guidance update against its formula, scale 0 = unguided bit for bit, a toy
# oracle's energy lowered; relaxation against a straight-line reference, types
# kept, rank splits; the CLI: in-process vs oracle ranks, bit for bit.
elign_add_test(NAME test_guidance SOURCES test_guidance.c testutil_molset.c TIMEOUT 120)
elign_add_test(NAME test_drelax SOURCES test_drelax.c testutil_molset.c TIMEOUT 120)
elign_add_script_test(guidance_cli guidance_cli.sh)
