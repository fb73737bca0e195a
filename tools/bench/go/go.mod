module spindlebench

go 1.19
