# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DNAMESPACE=<ns> -DFUNCTION=<name> -P EmbedFile.cmake
# Writes a C++ source whose function `std::string_view <ns>::<name>()` returns INPUT's bytes.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${INPUT} by cmake/EmbedFile.cmake. Do not edit.\n"
     "#include <string_view>\n\n"
     "namespace ${NAMESPACE} {\n"
     "namespace {\nconstexpr unsigned char kBytes[] = {${bytes}0};\n}  // namespace\n\n"
     "std::string_view ${FUNCTION}() {\n"
     "  return std::string_view(reinterpret_cast<const char*>(kBytes), ${size});\n}\n\n"
     "}  // namespace ${NAMESPACE}\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
