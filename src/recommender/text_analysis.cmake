# aurora_text_analysis: per-language words, folding, stop words and index terms for the
# recommender (Finnish lemmas and compound parts from Voikko, Swedish and English Snowball stems).
# Included by src/recommender/CMakeLists.txt.
add_library(aurora_text_analysis STATIC
  ${CMAKE_CURRENT_LIST_DIR}/text_analyzer.cc
  ${CMAKE_CURRENT_LIST_DIR}/stop_words.cc)
target_link_libraries(aurora_text_analysis
  PUBLIC aurora_common absl::status absl::statusor
  PRIVATE absl::flat_hash_map absl::hash absl::strings absl::synchronization Aurora::voikko
          Aurora::stemmer)
aurora_warnings(aurora_text_analysis)
