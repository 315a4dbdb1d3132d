// sanjogd: main only runs the application (see application.h).
#include "app/application.h"

int main(int argc, char** argv) { return sanjog::app::runMain(argc, argv); }
