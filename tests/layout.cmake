# The tree's structure (owner: layout): layer order, include circles, command
# mains, machine paths — tests/layering.py reads the sources, no build needed.
add_test(NAME layering COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/layering.py ${CMAKE_SOURCE_DIR})
add_test(NAME layering_self_test COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/layering.py --self-test)
set_tests_properties(layering layering_self_test PROPERTIES TIMEOUT 60)
