"""The ``smart-plugins`` console command: eval, index, search, train."""
