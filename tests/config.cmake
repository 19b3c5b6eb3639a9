# Config (libyaml schema, loader, `elign config`): owned by the config area.
elign_add_test(NAME test_config SOURCES test_config.c ARGS ${CMAKE_SOURCE_DIR} TIMEOUT 60)
elign_add_script_test(config_cli config_cli.sh)
