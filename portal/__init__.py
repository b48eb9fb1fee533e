"""Client portal: the Clients area of a billing system."""
