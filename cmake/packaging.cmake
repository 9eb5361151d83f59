# cmake/packaging.cmake - Debian packages of an install, one per install
# component, with `cpack -G DEB` in the build directory:
#   libmultiproc<MAJOR>  the shared library (component "runtime")
#   libmultiproc-dev     headers, static library, pkg-config and CMake files,
#                        reference pages (component "dev")
#   mpcopy               the tool and its page (component "mpcopy")
# Dependencies on system libraries come from dpkg-shlibdeps where it is
# installed (dpkg-dev); the -dev package and the tool depend on the exact
# runtime version. tests/package/deb.sh checks the result.
set(CPACK_PACKAGE_NAME multiproc)
set(CPACK_PACKAGE_VENDOR "multiproc")
set(CPACK_PACKAGE_CONTACT "multiproc developers <multiproc@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Python's multiprocessing for C: processes, queues, pools, managers, locks")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
find_program(MP_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(MP_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # mpcopy links the library this very build makes.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR})
endif()

set(MP_RUNTIME_PACKAGE libmultiproc${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${MP_RUNTIME_PACKAGE})
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
  "multiproc shared library: Python's multiprocessing for C")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libmultiproc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "multiproc development files: headers, static library, pkg-config, CMake package, manual pages")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "${MP_RUNTIME_PACKAGE} (= ${PROJECT_VERSION}), libssl-dev")
set(CPACK_DEBIAN_MPCOPY_PACKAGE_NAME mpcopy)
set(CPACK_DEBIAN_MPCOPY_PACKAGE_SECTION utils)
set(CPACK_COMPONENT_MPCOPY_DESCRIPTION
  "mpcopy: copies a directory tree with a process pool, showing progress")
set(CPACK_DEBIAN_MPCOPY_PACKAGE_DEPENDS
  "${MP_RUNTIME_PACKAGE} (= ${PROJECT_VERSION})")
# Only what a user installs: not the unspecified component of test targets.
set(CPACK_COMPONENTS_ALL runtime dev)
if(MP_BUILD_TOOLS)
  list(APPEND CPACK_COMPONENTS_ALL mpcopy)
endif()
include(CPack)
