# The optional MPI part: libmultiproc_mpi (src/mpi/, include/multiproc/mpi.h),
# built where CMake finds MPI (MP_WITH_MPI=AUTO), always (ON: MPI required)
# or never (OFF). The core library never links MPI; this one links the core
# and MPI::MPI_C, and installs with its own export set, pkg-config file
# (multiproc-mpi) and CMake component (find_package(multiproc COMPONENTS
# mpi), target multiproc::multiproc_mpi).
set(MP_WITH_MPI AUTO CACHE STRING
  "The distributed pool over MPI (libmultiproc_mpi): AUTO, ON, OFF")
set_property(CACHE MP_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
set(MP_HAVE_MPI OFF)
if(MP_WITH_MPI STREQUAL "ON")
  find_package(MPI REQUIRED COMPONENTS C)
  set(MP_HAVE_MPI ON)
elseif(MP_WITH_MPI STREQUAL "AUTO")
  find_package(MPI QUIET COMPONENTS C)
  if(MPI_C_FOUND)
    set(MP_HAVE_MPI ON)
  else()
    message(STATUS "multiproc: MPI not found: libmultiproc_mpi and its tests are skipped (apt-get install libopenmpi-dev openmpi-bin)")
  endif()
elseif(NOT MP_WITH_MPI STREQUAL "OFF")
  message(FATAL_ERROR "MP_WITH_MPI must be AUTO, ON or OFF")
endif()

if(MP_HAVE_MPI)
  set(MP_MPI_SOURCES src/mpi/world.c src/mpi/parent.c src/mpi/rank.c
    src/mpi/hello.c src/mpi/wire.c)
  if(MP_BUILD_SHARED)
    add_library(multiproc_mpi SHARED ${MP_MPI_SOURCES})
    set_target_properties(multiproc_mpi PROPERTIES VERSION ${PROJECT_VERSION}
      SOVERSION ${PROJECT_VERSION_MAJOR})
  else()
    add_library(multiproc_mpi STATIC ${MP_MPI_SOURCES})
  endif()
  set_target_properties(multiproc_mpi PROPERTIES POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
  target_include_directories(multiproc_mpi PUBLIC ${MP_PUBLIC_INCLUDES})
  target_link_libraries(multiproc_mpi PUBLIC ${MP_LIBRARY} MPI::MPI_C
    PRIVATE $<BUILD_INTERFACE:mp_flags>)
  add_library(multiproc::multiproc_mpi ALIAS multiproc_mpi)
  # A component of its own ("mpi"), so that the Debian packages of the core
  # (runtime, dev: cmake/packaging.cmake) never depend on MPI; a plain
  # `cmake --install` installs it with the rest.
  install(TARGETS multiproc_mpi EXPORT multiprocMpiTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT mpi
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT mpi)
  install(EXPORT multiprocMpiTargets NAMESPACE multiproc::
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/multiproc COMPONENT mpi)
  configure_file(cmake/multiproc-mpi.pc.in ${PROJECT_BINARY_DIR}/multiproc-mpi.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/multiproc-mpi.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT mpi)
endif()
