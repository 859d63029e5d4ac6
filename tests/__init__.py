"""drillhall's tests, a package so that no installed "tests" package hides them."""
