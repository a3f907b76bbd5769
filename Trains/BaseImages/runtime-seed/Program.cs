// Never run: this project exists only so that publishing it yields the .NET runtime files.
return 0;
