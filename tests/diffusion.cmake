# Diffusion process, sampler, EDM import and the denoise/sample CLI (owner: diffusion).
elign_add_test(NAME test_diffusion SOURCES test_diffusion.c)
