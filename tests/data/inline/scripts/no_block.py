"""Nothing declared: `# /// script` appears only inside this docstring's text, not at a line start."""

print("hello")
