"""Installing: plan, wheel choice, fetch and unpack, linking, RECORD, uninstall."""
