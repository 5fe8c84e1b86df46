# text_analyzer_test: src/recommender/text_analyzer.h (Voikko, Snowball). Included by
# tests/recommender/CMakeLists.txt.
aurora_test(text_analyzer_test ${CMAKE_CURRENT_LIST_DIR}/text_analyzer_test.cc)
target_link_libraries(text_analyzer_test PRIVATE aurora_text_analysis)
