-- OpenBLAS is loaded at run time with kernels chosen for this CPU
SELECT library LIKE 'libopenblas%' AS openblas, core <> '' AS has_core,
	coretype_source IN ('pg_infer', 'user', 'openblas') AS source_known,
	cpu IN ('avx512', 'avx2', 'baseline') AS cpu_known
FROM pg_infer.blas_info();
-- with AVX2 or AVX-512 the SSE-era kernels (OpenBLAS's fallback for CPUs it
-- does not know) must not be in use
SELECT CASE WHEN cpu IN ('avx512', 'avx2')
	THEN core NOT IN ('Prescott', 'Core2', 'Penryn', 'Dunnington', 'Nehalem', 'Atom',
					  'Katmai', 'Coppermine', 'Northwood', 'Banias', 'Sandybridge')
	ELSE true END AS fast_kernels
FROM pg_infer.blas_info();
SHOW pg_infer.threads;
SET pg_infer.threads = 2;
SELECT threads FROM pg_infer.blas_info();
SET pg_infer.threads = 0;
SET pg_infer.threads = 65;
RESET pg_infer.threads;
