# Language level and warnings shared by every target of the project (not by generated code).
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

# aurora_warnings(<target>): -Wall -Wextra (and -Werror when AURORA_WERROR is on) for our own code.
option(AURORA_WERROR "Treat warnings in project code as errors" OFF)
function(aurora_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  # GCC 12 reports impossible overlaps in std::string concatenation at -O2/-O3 (GCC bug 105329,
  # fixed in GCC 13): a false positive in libstdc++, not in our code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(AURORA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Sanitizers for the asan preset: AURORA_SANITIZE=ON adds ASan + UBSan to every target.
option(AURORA_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(AURORA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# ThreadSanitizer for the tsan preset (scripts/test runs the tests tagged [concurrency] under it).
option(AURORA_TSAN "Build with ThreadSanitizer" OFF)
if(AURORA_TSAN)
  if(AURORA_SANITIZE)
    message(FATAL_ERROR "AURORA_TSAN and AURORA_SANITIZE exclude each other")
  endif()
  # -Wno-tsan: Boost.Asio uses std::atomic_thread_fence, which TSan does not model (GCC warns).
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
