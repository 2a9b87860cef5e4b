"""Reading a run's fields back for the case checks: one point array of a .vti (one rank) or
.pvti (several) as a 2D array [j, i] (cells are written as points), components last."""


def point_field(path, name):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLPImageDataReader
    rd = vtkXMLPImageDataReader() if path.endswith(".pvti") else vtkXMLImageDataReader()
    rd.SetFileName(path)
    rd.Update()
    img = rd.GetOutput()
    nx, ny, _ = img.GetDimensions()
    arr = img.GetPointData().GetArray(name)
    if arr is None:
        raise KeyError(f"{path} has no point array '{name}'")
    a = vtk_to_numpy(arr)
    return a.reshape(ny, nx, -1) if a.ndim > 1 else a.reshape(ny, nx)
